#include "analysis/compare.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "analysis/fit.h"
#include "common/error.h"

namespace eco::analysis {
namespace {

TEST(Welch, TextbookExample) {
  // Welch's t-test, Wikipedia "Welch's t-test" example 1: t = -2.46, df = 24.99, p = 0.021.
  const std::vector<double> a{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                              21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  const std::vector<double> b{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                              24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  const WelchResult r = welch_t_test(a, b);
  EXPECT_NEAR(r.t, -2.455356, 1e-5);
  EXPECT_NEAR(r.df, 24.988529, 1e-5);
  EXPECT_NEAR(r.p_two_sided, 0.021, 5e-4);
  EXPECT_LT(r.ci_high, 0);  // significant at 5 %: the CI of the difference excludes 0
  EXPECT_NEAR((r.ci_low + r.ci_high) / 2, r.difference, 1e-12);
}

TEST(Welch, SymmetricAndDegenerateCases) {
  const std::vector<double> a{1, 2, 3, 4};
  const std::vector<double> b{1, 2, 3, 4};
  const WelchResult same = welch_t_test(a, b);
  EXPECT_EQ(same.t, 0);
  EXPECT_NEAR(same.p_two_sided, 1.0, 1e-12);
  // Equal sizes and variances: df = 2(n - 1).
  const std::vector<double> c{3, 4, 5, 6};
  const WelchResult shifted = welch_t_test(a, c);
  EXPECT_NEAR(shifted.df, 6.0, 1e-12);
  // t = -2 / sqrt(2 * (5/3) / 4); p from the t(6) distribution.
  EXPECT_NEAR(shifted.t, -2.0 / std::sqrt(2.0 * (5.0 / 3.0) / 4.0), 1e-12);
  const std::vector<double> k1{5, 5, 5}, k2{6, 6, 6};
  EXPECT_EQ(welch_t_test(k1, k2).p_two_sided, 0);
  EXPECT_TRUE(std::isinf(welch_t_test(k1, k2).t));
  EXPECT_THROW(welch_t_test(std::vector<double>{1}, c), Error);
}

TEST(Welch, FromMomentsEqualsFromValuesAndGivesRelativeChange) {
  const std::vector<double> a{11, 12, 13, 14}, b{9, 10, 11, 10};
  const WelchResult v = welch_t_test(a, b);
  const WelchResult m = welch_t_test(moments(a), moments(b));
  EXPECT_DOUBLE_EQ(v.t, m.t);
  EXPECT_DOUBLE_EQ(v.p_two_sided, m.p_two_sided);
  EXPECT_NEAR(m.delta_pct, 100 * (12.5 / 10 - 1), 1e-12);
  EXPECT_NEAR(m.delta_pct_low, 100 * m.ci_low / 10, 1e-12);
  EXPECT_NEAR(m.delta_pct_high, 100 * m.ci_high / 10, 1e-12);
  // A 99 % interval is wider than the 95 % one.
  const WelchResult w = welch_t_test(moments(a), moments(b), 0.99);
  EXPECT_LT(w.ci_low, m.ci_low);
  EXPECT_THROW(welch_t_test(Moments{1, 2, 0}, Moments{3, 2, 1}), Error);
}

TEST(Welch, PValueMatchesTheTTableAtTheCriticalValue) {
  // Equal n = 6 and sd = 1 give df = 10 exactly; choose the shift so that t = 2.228139, the
  // two-sided 5 % critical value of t(10) in the standard table: p must be 0.05.
  const double se = std::sqrt(2.0 / 6.0);
  const WelchResult r = welch_t_test(Moments{6, 2.228139 * se, 1}, Moments{6, 0, 1});
  EXPECT_NEAR(r.df, 10.0, 1e-12);
  EXPECT_NEAR(r.p_two_sided, 0.05, 1e-7);
  EXPECT_NEAR(r.ci_low, 0.0, 1e-6);  // the 95 % CI just touches 0
}

TEST(EnergyRatio, GrossAndNetSplitMultiplyBack) {
  // A: 300 J gross, 200 J net in 2 s; B: 100 J gross, 80 J net in 1 s.
  const EnergySplit s = energy_split(300, 200, 2, 100, 80, 1);
  ASSERT_TRUE(s.has_net);
  EXPECT_DOUBLE_EQ(s.gross.time_ratio * s.gross.power_ratio, s.gross.energy_ratio);
  EXPECT_DOUBLE_EQ(s.net.energy_ratio, 2.5);
  EXPECT_DOUBLE_EQ(s.net.time_ratio * s.net.power_ratio, s.net.energy_ratio);
  EXPECT_DOUBLE_EQ(s.net.power_ratio, 1.25);
  EXPECT_FALSE(energy_split(300, NAN, 2, 100, 80, 1).has_net);
  EXPECT_THROW(energy_split(300, -5, 2, 100, 80, 1), Error);
}

TEST(EnergyRatio, SplitsIntoTimeTimesPower) {
  // A: 300 J in 2 s (150 W); B: 100 J in 1 s (100 W) -> 3 = 2 x 1.5.
  const EnergyRatio r = energy_ratio(300, 2, 100, 1);
  EXPECT_DOUBLE_EQ(r.energy_ratio, 3.0);
  EXPECT_DOUBLE_EQ(r.time_ratio, 2.0);
  EXPECT_DOUBLE_EQ(r.power_ratio, 1.5);
  EXPECT_NEAR(r.time_ratio * r.power_ratio, r.energy_ratio, 1e-12);
  EXPECT_NEAR(r.time_share, std::log(2.0) / std::log(3.0), 1e-12);
  EXPECT_THROW(energy_ratio(0, 1, 1, 1), Error);
}

TEST(PowerLaw, ExactDataRecoversParameters) {
  std::vector<double> batch{1, 2, 4, 8, 16, 64}, energy;
  for (double bs : batch) energy.push_back(3.0 * std::pow(bs, -0.8));
  const PowerLawFit f = fit_power_law(batch, energy);
  EXPECT_NEAR(f.a, 3.0, 1e-12);
  EXPECT_NEAR(f.b, -0.8, 1e-12);
  EXPECT_NEAR(f.r_squared, 1.0, 1e-12);
  EXPECT_NEAR(f.b_se, 0.0, 1e-9);
}

TEST(PowerLaw, NoisyDataHandComputed) {
  // Reference values from the closed-form OLS on (ln B, ln E), computed independently.
  const std::vector<double> batch{1, 2, 4, 8, 16, 32, 64};
  const std::vector<double> energy{10.0, 5.6, 3.1, 1.9, 1.05, 0.62, 0.35};
  const PowerLawFit f = fit_power_law(batch, energy);
  EXPECT_EQ(f.n, 7);
  EXPECT_NEAR(f.b, -0.8007698609, 1e-9);
  EXPECT_NEAR(f.a, 9.7985189473, 1e-8);
  EXPECT_NEAR(f.b_se, 0.0067988444, 1e-9);
  EXPECT_NEAR(f.b_ci_low, -0.8182468, 1e-6);  // t(0.975, 5) = 2.570582
  EXPECT_NEAR(f.b_ci_high, -0.7832929, 1e-6);
}

TEST(PowerLaw, RejectsBadInput) {
  EXPECT_THROW(fit_power_law(std::vector<double>{1, 1}, std::vector<double>{2, 3}), Error);
  EXPECT_THROW(fit_power_law(std::vector<double>{1, 2}, std::vector<double>{2, -3}), Error);
  EXPECT_THROW(fit_power_law(std::vector<double>{1, 2}, std::vector<double>{2}), Error);
  const PowerLawFit two = fit_power_law(std::vector<double>{1, 2}, std::vector<double>{4, 2});
  EXPECT_NEAR(two.b, -1.0, 1e-12);
  EXPECT_TRUE(std::isnan(two.b_ci_low));
}

}  // namespace
}  // namespace eco::analysis
