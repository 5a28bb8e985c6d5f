#include "analysis/explain.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace eco::analysis {
namespace {

TEST(Crossover, InterpolatesInLogSizeAndLogRatio) {
  // Ratios 1.2 at 2 B and 0.8 at 8 B: ln ratio crosses 0 at f = ln1.2 / (ln1.2 - ln0.8) of the
  // way from ln 2 to ln 8.
  const std::vector<SizePoint> pts{{8, {10, 80, 1}, {10, 100, 1}}, {2, {10, 120, 1}, {10, 100, 1}}};
  const Crossover c = find_crossover(pts);
  ASSERT_TRUE(c.found);
  EXPECT_EQ(c.direction, 1);
  const double f = std::log(1.2) / (std::log(1.2) - std::log(0.8));
  EXPECT_NEAR(c.params_b, std::exp(std::log(2.0) + f * (std::log(8.0) - std::log(2.0))), 1e-12);
  EXPECT_DOUBLE_EQ(c.sizes[0], 2.0);  // sorted
  EXPECT_NEAR(c.ratios[0], 1.2, 1e-15);
  // Tiny spread: the interval is narrow, holds the estimate, and every resample crosses.
  EXPECT_LT(c.low, c.params_b);
  EXPECT_GT(c.high, c.params_b);
  EXPECT_LT(c.high - c.low, 0.5);
  EXPECT_GT(c.replicate_share, 0.99);
}

TEST(Crossover, NoneWhenTheFormatSavesEverywhereAndNoSpreadMeansNoInterval) {
  const std::vector<SizePoint> pts{{1, {1, 90, NAN}, {1, 100, NAN}},
                                   {3, {1, 80, NAN}, {1, 100, NAN}}};
  const Crossover c = find_crossover(pts);
  EXPECT_FALSE(c.found);
  EXPECT_TRUE(std::isnan(c.low));
  const std::vector<SizePoint> one{{1, {1, 90, 0}, {1, 100, 0}}};
  EXPECT_THROW(find_crossover(one), Error);
  const std::vector<SizePoint> dup{{1, {1, 90, 0}, {1, 100, 0}}, {1, {1, 9, 0}, {1, 10, 0}}};
  EXPECT_THROW(find_crossover(dup), Error);
}

TEST(Pareto, KeepsOnlyUndominatedPoints) {
  // (energy, loss): A(1, 5) B(2, 2) C(3, 3) dominated by B, D(4, 1), E(NaN, 0) skipped,
  // F(2, 2) ties B: neither dominates the other.
  const std::vector<double> e{1, 2, 3, 4, NAN, 2};
  const std::vector<double> l{5, 2, 3, 1, 0, 2};
  EXPECT_EQ(pareto_front(e, l), (std::vector<size_t>{0, 1, 3, 5}));
  EXPECT_THROW(pareto_front(e, std::vector<double>{1}), Error);
}

TEST(PrefillShare, RatioOfSummedEnergies) {
  const std::vector<double> p{1, 3, NAN}, d{9, 7, 5};
  EXPECT_DOUBLE_EQ(prefill_share(p, d), 4.0 / 20.0);
  EXPECT_TRUE(std::isnan(prefill_share(std::vector<double>{}, std::vector<double>{})));
}

}  // namespace
}  // namespace eco::analysis
