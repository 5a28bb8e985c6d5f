#include "meter/run_stats.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace eco::meter {
namespace {

TEST(RunStats, KnownSample) {
  // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sd = sqrt(32/7) = 2.13809.
  // CI half-width = t(0.975, 7) 2.3646 * 2.13809 / sqrt(8) = 1.78748.
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  const RunStats s = run_stats(v);
  EXPECT_EQ(s.n, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.sd, 2.13809, 1e-5);
  EXPECT_NEAR(s.cv, 2.13809 / 5, 1e-5);
  EXPECT_NEAR(s.ci_low, 5 - 1.78748, 1e-4);
  EXPECT_NEAR(s.ci_high, 5 + 1.78748, 1e-4);
}

TEST(RunStats, OneRunHasNoSpreadAndNaNsAreIgnored) {
  const std::vector<double> v = {3.0, std::numeric_limits<double>::quiet_NaN()};
  const RunStats s = run_stats(v);
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_TRUE(std::isnan(s.sd));
  EXPECT_TRUE(std::isnan(s.ci_low));
}

TEST(RunStats, TQuantiles) {
  EXPECT_NEAR(t_quantile_975(1), 12.706, 1e-3);
  EXPECT_NEAR(t_quantile_975(30), 2.042, 1e-3);
  EXPECT_NEAR(t_quantile_975(40), 2.0211, 2e-4);   // table value 2.021
  EXPECT_NEAR(t_quantile_975(120), 1.9799, 2e-4);  // table value 1.980
  EXPECT_TRUE(std::isnan(t_quantile_975(0)));
}

}  // namespace
}  // namespace eco::meter
