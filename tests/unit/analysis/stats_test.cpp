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

TEST(Stats, StudentTTwoSidedPMatchesTables) {
  // Critical values of the standard t table are where the two-sided p equals the column's level.
  EXPECT_NEAR(student_t_two_sided_p(2.228139, 10), 0.05, 1e-7);
  EXPECT_NEAR(student_t_two_sided_p(3.169273, 10), 0.01, 1e-7);
  EXPECT_NEAR(student_t_two_sided_p(-2.570582, 5), 0.05, 1e-7);
  EXPECT_NEAR(student_t_two_sided_p(12.706205, 1), 0.05, 1e-7);
  // df = 2 has the closed form p = 1 - |t| / sqrt(2 + t^2); at t = 10 only 1 - 10/sqrt(102).
  EXPECT_NEAR(student_t_two_sided_p(10.0, 2), 1 - 10 / std::sqrt(102.0), 1e-15);
  // Far tail keeps relative precision (df = 1: p = 1 - 2 atan(t) / pi = 2 atan(1/t) / pi).
  EXPECT_NEAR(student_t_two_sided_p(1e6, 1) / (2 * std::atan(1e-6) / M_PI), 1.0, 1e-9);
  EXPECT_THROW(student_t_two_sided_p(1.0, 0), Error);
}

TEST(Stats, SummaryFromMomentsMatchesSummaryFromValues) {
  const std::vector<double> xs{2, 4, 4, 4, 5, 5, 7, 9};
  const Summary a = summarize(xs);
  const Summary b = summarize(moments(xs));
  EXPECT_EQ(a.n, b.n);
  EXPECT_DOUBLE_EQ(a.ci_low, b.ci_low);
  EXPECT_DOUBLE_EQ(a.ci_high, b.ci_high);
  EXPECT_TRUE(std::isnan(b.min));
  EXPECT_THROW(summarize(Moments{}), Error);
}

TEST(Stats, BootstrapIntervalIsReproducibleAndSensible) {
  const std::vector<double> xs{10.1, 9.8, 10.4, 10.0, 9.7, 10.3, 10.2, 9.9, 10.0, 10.6};
  const Interval a = bootstrap_mean_ci(xs, 0.95, 4000, 7);
  const Interval b = bootstrap_mean_ci(xs, 0.95, 4000, 7);
  EXPECT_EQ(a.low, b.low);  // same seed, same interval
  EXPECT_EQ(a.high, b.high);
  const double m = mean(xs);
  EXPECT_LT(a.low, m);
  EXPECT_GT(a.high, m);
  // The percentile interval of the mean is close to mean +/- 1.96 sd / sqrt(n) (here the
  // plug-in sd, n in the denominator); with 4000 resamples within ~10 % of its half width.
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  const double half = 1.959964 * std::sqrt(ss / 10.0) / std::sqrt(10.0);
  EXPECT_NEAR(a.high - a.low, 2 * half, 0.1 * 2 * half);
  // A constant sample has a zero-width interval.
  const std::vector<double> k{3, 3, 3};
  const Interval z = bootstrap_mean_ci(k);
  EXPECT_EQ(z.low, 3);
  EXPECT_EQ(z.high, 3);
  EXPECT_THROW(bootstrap_mean_ci(std::vector<double>{}), Error);
  EXPECT_THROW(bootstrap_mean_ci(xs, 0.95, 10), Error);
}

TEST(Stats, EffectSizeHandComputed) {
  // Pooled sd of (sd 2, n 5) and (sd 4, n 5): sqrt((4*4 + 4*16) / 8) = sqrt(10).
  const EffectSize e = effect_size(Moments{5, 12, 2}, Moments{5, 10, 4});
  EXPECT_NEAR(e.cohens_d, 2 / std::sqrt(10.0), 1e-15);
  EXPECT_NEAR(e.hedges_g, 2 / std::sqrt(10.0) * (1 - 3.0 / 31.0), 1e-15);
  EXPECT_TRUE(std::isnan(effect_size(Moments{3, 1, 0}, Moments{3, 2, 0}).cohens_d));
  EXPECT_THROW(effect_size(Moments{1, 1, 0}, Moments{3, 2, 1}), Error);
}

TEST(Stats, HolmAdjustmentHandComputed) {
  // Sorted p: .01 (x4 = .04), .02 (x3 = .06), .03 (x2 = .06), .04 (x1 = .04 -> .06 monotone).
  const std::vector<double> p{0.03, 0.01, 0.04, 0.02};
  const std::vector<double> adj = holm_adjust(p);
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[1], 0.04, 1e-15);
  EXPECT_NEAR(adj[3], 0.06, 1e-15);
  EXPECT_NEAR(adj[0], 0.06, 1e-15);
  EXPECT_NEAR(adj[2], 0.06, 1e-15);
  // Capped at 1; NaN stays NaN and is not counted.
  const std::vector<double> q{0.6, std::nan(""), 0.5};
  const std::vector<double> adj2 = holm_adjust(q);
  EXPECT_NEAR(adj2[2], 1.0, 1e-15);
  EXPECT_NEAR(adj2[0], 1.0, 1e-15);
  EXPECT_TRUE(std::isnan(adj2[1]));
  EXPECT_THROW(holm_adjust(std::vector<double>{1.5}), Error);
}

}  // namespace
}  // namespace eco::analysis
