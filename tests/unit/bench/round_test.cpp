// The round's stopping, trend and outlier rules on scripted figures. The H200 sequences follow
// the ranges docs/BENCHMARKS.md reports for mistral-7b fp16 (per-run powers at a constant
// throughput, so J/token moves with power alone): at batch 1 three runs of 544-553 W before
// the rest at 556-566 W; at batch 64 one window at 639 W among 663-667 W.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>

#include "analysis/stats.h"
#include "bench/round.h"

namespace eco::bench {
namespace {

ProtocolOptions defaults() {
  return ProtocolOptions{};
}

struct Fed {
  int runs = 0;
  RoundPlan plan;
};

// Feeds the plan run after run (J/token from `j_of(i)`, tok/s from `tok_s_of(i)`) until it
// stops; a guard fails the test if it never does.
Fed feed(
    const ProtocolOptions& p, const std::function<double(int)>& j_of,
    const std::function<double(int)>& tok_s_of = [](int) { return 400.0; }) {
  Fed f{0, RoundPlan(p, true)};
  for (bool more = true; more && f.runs < 1000; ++f.runs)
    more = f.plan.add(j_of(f.runs), tok_s_of(f.runs));
  EXPECT_LT(f.runs, 1000) << "the round never stopped";
  return f;
}

std::vector<double> kept_values(const Fed& f, const std::function<double(int)>& j_of) {
  std::vector<double> ys;
  for (size_t i : f.plan.kept()) ys.push_back(j_of(int(i)));
  return ys;
}

double cv(const std::vector<double>& ys) {
  return analysis::coefficient_of_variation(ys);
}

TEST(Trend, IsSignificantOnlyWhenTheSlopeIsBothRealAndLargerThanTheTarget) {
  const std::vector<double> x{0, 1, 2, 3, 4, 5};
  // 1 % per run with a little noise: significant, and a 5 % change across the runs.
  const auto rising = trend_of(x, {1.000, 1.011, 1.019, 1.031, 1.040, 1.049}, 0.01);
  EXPECT_TRUE(rising.significant);
  EXPECT_GT(rising.slope, 0);
  EXPECT_NEAR(rising.change, 0.049, 0.003);
  // A real but tiny slope (0.1 % per run, 0.5 % in all): not larger than a 1 % target.
  const auto tiny = trend_of(x, {1.000, 1.001, 1.002, 1.003, 1.004, 1.005}, 0.01);
  EXPECT_GT(std::fabs(tiny.t), tiny.t_critical);
  EXPECT_FALSE(tiny.significant);
  // Large swings without a direction: not significant.
  const auto noise = trend_of(x, {1.00, 1.03, 0.98, 1.02, 0.99, 1.01}, 0.01);
  EXPECT_LT(std::fabs(noise.t), noise.t_critical);
  EXPECT_FALSE(noise.significant);
  EXPECT_FALSE(trend_of({0, 1}, {1, 2}, 0.01).significant);  // two points: no test
}

TEST(Trend, LeadingRunsAreUnsettledWhileBeyondTheTargetFromTheRestOnTheTrendsSide) {
  // Rising: the low leading values go; 557 is within 1 % of the rest's median (562) and stays.
  EXPECT_EQ(unsettled_leading({544, 548, 553, 557, 566, 559, 562, 558, 564}, 1.0, 0.01), 3);
  // A leading value on the other side of the trend is not unsettled.
  EXPECT_EQ(unsettled_leading({570, 548, 553, 560, 562}, 1.0, 0.01), 0);
  // Falling: the high leading values go.
  EXPECT_EQ(unsettled_leading({580, 575, 560, 561, 559, 560}, -1.0, 0.01), 2);
  // Two values always stay after the last one dropped.
  EXPECT_EQ(unsettled_leading({1, 2, 3, 4}, 1.0, 0.01), 2);
}

TEST(Outliers, OneWindowFarFromTheMedianInRobustSdAndInPercent) {
  // The batch-64 window: 639 W among 663-667 W.
  const std::vector<double> w{664, 666, 663, 665, 667, 639, 664, 666, 665, 663, 667, 665};
  EXPECT_EQ(outliers_of(w), (std::vector<size_t>{5}));
  // 1 % away but within 3.5 robust sd of a wider spread: not an outlier.
  EXPECT_TRUE(outliers_of({100, 102, 98, 101, 99, 103, 97, 104}).empty());
  // Beyond 3.5 robust sd of a very tight spread but under 1 % away: not an outlier.
  EXPECT_TRUE(outliers_of({100, 100.01, 99.99, 100, 100.01, 99.2}).empty());
  // Fewer than kOutlierMinRuns values: the rule does not look.
  EXPECT_TRUE(outliers_of({664, 666, 639, 665}).empty());
}

// Batch 1 on the H200: stabilisation said stable, the card still drew 2 % more over the first
// runs. The trend rule sets the three leading runs aside and the round measures on.
TEST(RoundPlan, SettlingCardLeadingRunsAreSetAsideAndTheRoundGoesOn) {
  const std::vector<double> watts{544, 548, 553, 561, 557, 564, 559, 566, 556, 562};
  // After the first ten the settled runs repeat (runs 3-9).
  auto j_of = [&](int i) { return watts[size_t(i < 10 ? i : 3 + (i - 3) % 7)] / 400.0; };
  const auto all = [&] {
    std::vector<double> ys;
    for (int i = 0; i < 10; ++i) ys.push_back(j_of(i));
    return ys;
  }();
  ASSERT_GT(cv(all), 0.01);  // the ten runs as measured: over the 1 % target
  const Fed f = feed(defaults(), j_of);
  ASSERT_EQ(f.plan.trend_drops().size(), 1u);
  EXPECT_EQ(f.plan.trend_drops()[0].runs, (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(f.plan.trend_drops()[0].trend.significant);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(f.plan.uses()[i], RunUse::Unsettled);
  EXPECT_FALSE(f.plan.outlier_rejected());
  const auto kept = kept_values(f, j_of);
  EXPECT_GE(int(kept.size()), defaults().runs);
  EXPECT_LT(cv(kept), 0.01);
  EXPECT_FALSE(f.plan.final_trend().significant);
  EXPECT_LE(f.runs, defaults().max_runs);
}

// Batch 64 on the H200: one window drew 639 W against 663-667 W. It is rejected, re-measured by
// one extra run, and the rest are what they were.
TEST(RoundPlan, OneOutlierWindowIsRejectedAndReMeasuredOnce) {
  ProtocolOptions p = defaults();
  p.runs = 10;  // as in the H200 measurement
  const std::vector<double> watts{664, 666, 663, 665, 667, 639, 664, 666, 665, 663, 667, 665};
  auto j_of = [&](int i) { return watts[size_t(i) % watts.size()] / 12000.0; };
  auto tok_s = [](int i) { return 12000.0 * (1 + 0.002 * ((i % 3) - 1)); };
  const Fed f = feed(p, j_of, tok_s);
  ASSERT_TRUE(f.plan.outlier_rejected());
  EXPECT_EQ(*f.plan.outlier_rejected(), 5u);
  EXPECT_EQ(f.plan.uses()[5], RunUse::OutlierRejected);
  EXPECT_EQ(f.plan.outliers_found(), 1);
  EXPECT_TRUE(f.plan.trend_drops().empty());
  EXPECT_EQ(f.runs, 11);  // ten runs stop on the CI, then the one replacement
  const auto kept = kept_values(f, j_of);
  EXPECT_EQ(kept.size(), 10u);
  EXPECT_LT(cv(kept), 0.004);
}

TEST(RoundPlan, TwoOutliersRejectNothing) {
  const std::vector<double> clean{664, 666, 665, 663, 667, 665, 664};
  auto j_of = [&](int i) {
    return (i == 1 ? 639 : i == 3 ? 641 : clean[size_t(i) % clean.size()]) / 12000.0;
  };
  const Fed f = feed(defaults(), j_of);
  EXPECT_FALSE(f.plan.outlier_rejected());
  EXPECT_EQ(f.plan.outliers_found(), 2);
  for (RunUse u : f.plan.uses()) EXPECT_EQ(u, RunUse::Kept);
  EXPECT_LE(f.runs, defaults().max_runs);  // no replacement run beyond the cap
}

// The replacement is itself an outlier: two outliers in the round, so the first is reinstated
// and nothing is rejected; the round then measures on as its CI asks.
TEST(RoundPlan, AReplacementThatIsAnOutlierTooReinstatesTheFirst) {
  const std::vector<double> clean{664, 666, 665, 663, 667, 665, 664};
  // Run 4 is an outlier, found once eight runs are in; its replacement (run 8) is one too.
  auto j_of = [&](int i) {
    return (i == 4 ? 639 : i == 8 ? 640 : clean[size_t(i) % clean.size()]) / 12000.0;
  };
  const Fed f = feed(defaults(), j_of);
  EXPECT_GT(f.runs, 9);
  EXPECT_FALSE(f.plan.outlier_rejected());
  EXPECT_EQ(f.plan.outliers_found(), 2);
  EXPECT_EQ(f.plan.uses()[4], RunUse::Kept);
  EXPECT_EQ(f.plan.cap(), defaults().max_runs + 1);  // the one replacement was spent
}

TEST(RoundPlan, TrendDropsStayWithinMaxRuns) {
  ProtocolOptions p = defaults();
  p.runs = p.max_runs = 6;
  const std::vector<double> watts{530, 540, 550, 560, 561, 559};
  auto j_of = [&](int i) { return watts[size_t(i)] / 400.0; };
  // At the cap at once: nothing could replace the unsettled runs, so none is set aside; the
  // trend is recorded for the reader and the gate decides.
  const Fed f = feed(p, j_of);
  EXPECT_EQ(f.runs, 6);
  EXPECT_TRUE(f.plan.trend_drops().empty());
  EXPECT_TRUE(f.plan.final_trend().significant);
  // Four runs needed, six allowed: the first two go once four are in, two more are measured.
  p.runs = 4;
  const Fed g = feed(p, j_of);
  EXPECT_EQ(g.runs, 6);
  ASSERT_EQ(g.plan.trend_drops().size(), 1u);
  EXPECT_EQ(g.plan.trend_drops()[0].after_runs, 4);
  EXPECT_EQ(g.plan.trend_drops()[0].runs, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(g.plan.kept(), (std::vector<size_t>{2, 3, 4, 5}));
}

TEST(RoundPlan, WithoutEnergyNeitherRuleApplies) {
  RoundPlan plan(defaults(), false);
  const std::vector<double> tok_s{400, 400.1, 399.9, 400, 400.1};
  int n = 0;
  while (n < 5 && plan.add(n == 2 ? 100.0 : 1.0, tok_s[size_t(n)])) ++n;
  EXPECT_EQ(n, 4);  // stopped at the fifth run on the throughput CI alone
  EXPECT_FALSE(plan.outlier_rejected());
  EXPECT_TRUE(plan.trend_drops().empty());
}

// Simulated rounds of the default protocol: J/token = 1 + shift(run) + Gaussian noise of sd
// `noise`. Seeded, with a Box-Muller transform of a 64-bit Mersenne Twister, so the counts are
// the same with every standard library.
struct Simulated {
  int rounds = 0, with_drop = 0, with_rejection = 0, cv_within_1pct = 0;
  double mean_bias = 0;  // mean over rounds of (mean of the runs that count - 1)
};
Simulated simulate(int rounds, double noise, const std::function<double(int)>& shift) {
  std::mt19937_64 gen(20261203);
  auto uniform = [&] { return (double(gen() >> 11) + 0.5) / 9007199254740992.0; };
  auto gaussian = [&] {
    return std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
  };
  Simulated s;
  s.rounds = rounds;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> js;
    auto j_of = [&](int i) {
      while (int(js.size()) <= i) js.push_back(1.0 + shift(int(js.size())) + noise * gaussian());
      return js[size_t(i)];
    };
    const Fed f = feed(defaults(), j_of);
    s.with_drop += !f.plan.trend_drops().empty();
    s.with_rejection += f.plan.outlier_rejected().has_value();
    const auto kept = kept_values(f, j_of);
    s.cv_within_1pct += cv(kept) < 0.01;
    s.mean_bias += (analysis::mean(kept) - 1.0) / rounds;
  }
  return s;
}

// A clean card (no drift, no outlier) with the 0.5 % window-to-window noise of a settled H200:
// the trend rule sets runs aside in about 1 % of rounds, the outlier rule in none, and the mean
// of the runs that count is unbiased.
TEST(RoundPlan, CleanCardRarelySetsRunsAside) {
  const Simulated s = simulate(2000, 0.005, [](int) { return 0.0; });
  EXPECT_LT(s.with_drop, s.rounds * 2 / 100);
  EXPECT_LT(s.with_rejection, s.rounds / 200);
  EXPECT_LT(std::fabs(s.mean_bias), 0.0002);
  EXPECT_EQ(s.cv_within_1pct, s.rounds);
}

// The batch-1 pattern (first three runs 3.0, 2.2 and 1.4 % low) under 0.5 % noise: the trend
// rule finds it in nearly every round and the runs that count meet the 1 % CV target.
TEST(RoundPlan, SettlingIsFoundUnderNoise) {
  const Simulated s = simulate(1000, 0.005, [](int i) {
    return i == 0 ? -0.030 : i == 1 ? -0.022 : i == 2 ? -0.014 : 0.0;
  });
  EXPECT_GT(s.with_drop, s.rounds * 95 / 100);
  EXPECT_GT(s.cv_within_1pct, s.rounds * 97 / 100);
  EXPECT_LT(std::fabs(s.mean_bias), 0.001);
}

// The batch-64 pattern (one window 3.9 % low) under the 0.4 % spread of the other windows:
// rejected in nearly every round.
TEST(RoundPlan, OneOutlierIsFoundUnderNoise) {
  const Simulated s = simulate(1000, 0.004, [](int i) { return i == 3 ? -0.039 : 0.0; });
  EXPECT_GT(s.with_rejection, s.rounds * 95 / 100);
  EXPECT_GT(s.cv_within_1pct, s.rounds * 95 / 100);
  EXPECT_LT(std::fabs(s.mean_bias), 0.0005);
}

}  // namespace
}  // namespace eco::bench
