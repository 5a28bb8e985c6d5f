#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "analysis/fit.h"
#include "common/error.h"

namespace eco::analysis {
namespace {

TEST(LineFit, HandComputed) {
  // y = 1 + 2x exactly, then with residuals +1, -1, -1, +1 (sse 4, sxx 5, se = sqrt(4/2/5)).
  const std::vector<double> x{0, 1, 2, 3};
  LineFit f = fit_line(x, std::vector<double>{1, 3, 5, 7});
  ASSERT_TRUE(f.ok);
  EXPECT_DOUBLE_EQ(f.slope, 2);
  EXPECT_DOUBLE_EQ(f.intercept, 1);
  EXPECT_DOUBLE_EQ(f.slope_se, 0);
  EXPECT_DOUBLE_EQ(f.r_squared, 1);
  f = fit_line(x, std::vector<double>{2, 2, 4, 8});
  EXPECT_DOUBLE_EQ(f.slope, 2);
  EXPECT_DOUBLE_EQ(f.intercept, 1);
  EXPECT_NEAR(f.slope_se, std::sqrt(0.4), 1e-12);
  EXPECT_NEAR(f.r_squared, 1 - 4.0 / 24.0, 1e-12);
  // Two points: no standard error; x that does not vary: no line.
  EXPECT_TRUE(std::isnan(fit_line(std::vector<double>{0, 1}, std::vector<double>{0, 1}).slope_se));
  EXPECT_FALSE(fit_line(std::vector<double>{2, 2, 2}, std::vector<double>{1, 2, 3}).ok);
  EXPECT_FALSE(fit_line(std::vector<double>{1}, std::vector<double>{1}).ok);
}

TEST(PowerLaw, RecoversExponentWithinItsCiInAtLeast90PercentOfSeeds) {
  // E = 40 B^-0.85 with 5 % multiplicative noise, 3 repeats at each of 7 batch sizes. A 95 %
  // interval should hold the true exponent in ~95 % of seeds; fewer than 90 % would mean the
  // interval is too narrow (or the fit biased).
  const std::vector<double> sizes{1, 2, 4, 8, 16, 32, 64};
  constexpr double kTrueB = -0.85;
  int covered = 0;
  constexpr int kSeeds = 400;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng{uint64_t(seed)};
    std::normal_distribution<double> noise(0.0, 0.05);
    std::vector<double> batch, energy;
    for (double b : sizes)
      for (int rep = 0; rep < 3; ++rep) {
        batch.push_back(b);
        energy.push_back(40 * std::pow(b, kTrueB) * std::exp(noise(rng)));
      }
    const PowerLawFit f = fit_power_law(batch, energy);
    ASSERT_LT(f.b_ci_low, f.b_ci_high);
    if (f.b_ci_low <= kTrueB && kTrueB <= f.b_ci_high) ++covered;
  }
  EXPECT_GE(covered, int(0.90 * kSeeds)) << covered << " of " << kSeeds;
  EXPECT_LE(covered, int(0.99 * kSeeds)) << "interval suspiciously wide";
}

TEST(PowerLaw, DiminishingReturnsHandComputed) {
  // b = -1: doubling from B saves a / (2B) per request; under 5 % of a once B > 10.
  PowerLawFit f;
  f.a = 7;
  f.b = -1;
  f.b_ci_low = -1.1;
  f.b_ci_high = -0.9;
  const DiminishingReturns r = diminishing_returns(f, 0.05);
  EXPECT_TRUE(r.saves);
  EXPECT_NEAR(r.batch, 10.0, 1e-12);
  // Ends of the CI: b = -1.1 -> ((1 - 2^-1.1) / 0.05)^(1/1.1); b = -0.9 likewise.
  const double at_low = std::pow((1 - std::exp2(-1.1)) / 0.05, 1 / 1.1);
  const double at_high = std::pow((1 - std::exp2(-0.9)) / 0.05, 1 / 0.9);
  EXPECT_NEAR(r.low, std::min(at_low, at_high), 1e-9);
  EXPECT_NEAR(r.high, std::max(at_low, at_high), 1e-9);
  EXPECT_LE(r.low, r.batch);
  EXPECT_GE(r.high, r.batch);
  f.b = 0.1;  // energy per request grows with the batch: nothing to save
  EXPECT_FALSE(diminishing_returns(f, 0.05).saves);
  EXPECT_THROW(diminishing_returns(f, 0), Error);
  EXPECT_THROW(diminishing_returns(f, 1.5), Error);
}

}  // namespace
}  // namespace eco::analysis
