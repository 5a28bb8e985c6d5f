#include "analysis/stats.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace eco::analysis {
namespace {

TEST(Stats, SummaryOfHandComputedSample) {
  // mean 5, sum of squared deviations 32, sample variance 32/7.
  const std::vector<double> xs{2, 4, 4, 4, 5, 5, 7, 9};
  const Summary s = summarize(xs);
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.sd, std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(32.0 / 7.0) / 5.0, 1e-12);
  // t(0.975, 7) = 2.364624 (table); half width = t * sd / sqrt(8).
  const double half = 2.364624 * std::sqrt(32.0 / 7.0) / std::sqrt(8.0);
  EXPECT_NEAR(s.ci_low, 5.0 - half, 1e-5);
  EXPECT_NEAR(s.ci_high, 5.0 + half, 1e-5);
  EXPECT_EQ(s.min, 2);
  EXPECT_EQ(s.max, 9);
}

TEST(Stats, SingleValueHasNoSpread) {
  const std::vector<double> xs{3.5};
  const Summary s = summarize(xs);
  EXPECT_EQ(s.sd, 0);
  EXPECT_EQ(s.cv, 0);
  EXPECT_EQ(s.ci_low, 3.5);
  EXPECT_EQ(s.ci_high, 3.5);
}

TEST(Stats, EmptySampleAndBadConfidenceAreErrors) {
  const std::vector<double> none;
  EXPECT_THROW(summarize(none), Error);
  const std::vector<double> xs{1, 2};
  EXPECT_THROW(summarize(xs, 1.0), Error);
  EXPECT_TRUE(std::isnan(coefficient_of_variation(std::vector<double>{-1, 1})));
}

TEST(Stats, IncompleteBetaMatchesClosedForms) {
  EXPECT_NEAR(incomplete_beta(0.37, 1, 1), 0.37, 1e-13);
  // Integer a, b: binomial tail sum. I_0.3(2, 3) = 6*.09*.49 + 4*.027*.7 + .0081.
  EXPECT_NEAR(incomplete_beta(0.3, 2, 3), 0.3483, 1e-12);
  EXPECT_NEAR(incomplete_beta(0.9, 2, 3), 1 - incomplete_beta(0.1, 3, 2), 1e-13);
  EXPECT_EQ(incomplete_beta(0, 2, 3), 0);
  EXPECT_EQ(incomplete_beta(1, 2, 3), 1);
  EXPECT_THROW(incomplete_beta(1.5, 2, 3), Error);
}

TEST(Stats, StudentTCdfClosedForms) {
  // df = 1 is Cauchy: F(1) = 3/4. df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
  EXPECT_NEAR(student_t_cdf(1.0, 1), 0.75, 1e-12);
  EXPECT_NEAR(student_t_cdf(2.0, 2), 0.5 + 2.0 / (2 * std::sqrt(6.0)), 1e-12);
  EXPECT_NEAR(student_t_cdf(-2.0, 2), 0.5 - 2.0 / (2 * std::sqrt(6.0)), 1e-12);
  EXPECT_DOUBLE_EQ(student_t_cdf(0.0, 5), 0.5);
}

TEST(Stats, StudentTQuantileMatchesTables) {
  struct Row {
    double p, df, t;
  };
  // Standard t table (two-sided 95 % and 99 %), 4-6 significant digits.
  const Row rows[] = {{0.975, 1, 12.7062},   {0.975, 2, 4.30265},  {0.975, 5, 2.57058},
                      {0.975, 9, 2.26216},   {0.975, 10, 2.22814}, {0.975, 30, 2.04227},
                      {0.975, 120, 1.97993}, {0.995, 9, 3.24984},  {0.95, 4, 2.13185},
                      {0.025, 9, -2.26216}};
  for (const auto& r : rows)
    EXPECT_NEAR(student_t_quantile(r.p, r.df), r.t, 5e-5) << "p=" << r.p << " df=" << r.df;
  // Large df tends to the normal quantile 1.959964.
  EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-5);
  // Round trip.
  EXPECT_NEAR(student_t_cdf(student_t_quantile(0.9, 3.7), 3.7), 0.9, 1e-10);
  EXPECT_THROW(student_t_quantile(1.0, 3), Error);
  EXPECT_THROW(student_t_quantile(0.5, 0), Error);
}

}  // namespace
}  // namespace eco::analysis
