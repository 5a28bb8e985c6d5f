// The quality arithmetic on distributions small enough to compute by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "quality/metrics.h"

namespace eco::quality {
namespace {

// Logits whose softmax is `p` (log p, shifted by `shift` to show the shift does not matter).
std::vector<float> logits_of(const std::vector<double>& p, double shift = 0) {
  std::vector<float> out;
  for (double x : p) out.push_back(float(std::log(x) + shift));
  return out;
}

TEST(QualityMetrics, RowStatsGivesLogSumExpAndFirstMaximum) {
  const auto l = logits_of({0.1, 0.2, 0.3, 0.4}, 5.0);
  const RowStats s = row_stats(l);
  EXPECT_NEAR(s.log_sum_exp, 5.0, 1e-6);
  EXPECT_EQ(s.top1, 3);
  EXPECT_NEAR(token_nll(l, s.log_sum_exp, 0), -std::log(0.1), 1e-6);
  const std::vector<float> tie{2.0f, 7.0f, 7.0f, -1.0f};
  EXPECT_EQ(row_stats(tie).top1, 1) << "ties go to the lowest id, as Engine::argmax";
  // Large logits must not overflow: softmax of {1000, 1000} is {1/2, 1/2}.
  const std::vector<float> big{1000.0f, 1000.0f};
  EXPECT_NEAR(row_stats(big).log_sum_exp, 1000.0 + std::log(2.0), 1e-9);
}

TEST(QualityMetrics, KlDivergenceOfHandComputedDistributions) {
  // KL([1/2, 1/2] || [1/4, 3/4]) = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).
  const auto p = logits_of({0.5, 0.5}, 3.0), q = logits_of({0.25, 0.75}, -2.0);
  const double kl = kl_divergence(p, row_stats(p).log_sum_exp, q, row_stats(q).log_sum_exp);
  EXPECT_NEAR(kl, 0.5 * std::log(4.0 / 3.0), 1e-7);
  // Not symmetric: KL([1/4, 3/4] || [1/2, 1/2]) = 1/4 ln(1/2) + 3/4 ln(3/2).
  const double back = kl_divergence(q, row_stats(q).log_sum_exp, p, row_stats(p).log_sum_exp);
  EXPECT_NEAR(back, 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_THROW(kl_divergence(p, 0, logits_of({0.2, 0.3, 0.5}), 0), Error);
}

TEST(QualityMetrics, IdenticalDistributionsHaveZeroKlAndAgree) {
  const auto p = logits_of({0.05, 0.6, 0.1, 0.25}, 1.5);
  const RowStats s = row_stats(p);
  EXPECT_EQ(kl_divergence(p, s.log_sum_exp, p, s.log_sum_exp), 0.0);
  const TokenComparison t = compare_token(p, s, p, 2);
  EXPECT_EQ(t.kld, 0.0);
  EXPECT_EQ(t.delta_p, 0.0);
  EXPECT_EQ(t.nll, t.nll_base);
  EXPECT_TRUE(t.same_top1);
}

TEST(QualityMetrics, CompareTokenGivesDeltaPAndBothNlls) {
  const auto base = logits_of({0.5, 0.5}), q = logits_of({0.25, 0.75});
  const RowStats bs = row_stats(base);
  const TokenComparison t = compare_token(base, bs, q, 1);
  EXPECT_NEAR(t.nll, -std::log(0.75), 1e-7);
  EXPECT_NEAR(t.nll_base, std::log(2.0), 1e-7);
  EXPECT_NEAR(t.delta_p, 0.75 - 0.5, 1e-7);
  EXPECT_NEAR(t.kld, 0.5 * std::log(4.0 / 3.0), 1e-7);
  EXPECT_FALSE(t.same_top1) << "base picks id 0 (tie), q picks id 1";
  const TokenComparison t0 = compare_token(base, bs, q, 0);
  EXPECT_NEAR(t0.delta_p, 0.25 - 0.5, 1e-7);
  EXPECT_THROW(compare_token(base, bs, q, 2), Error);
}

TEST(QualityMetrics, PerplexityOfUniformAndMixedPredictions) {
  // A uniform prediction over V ids costs ln V per token: PPL = V, with no spread.
  MeanAccumulator uniform;
  for (int i = 0; i < 10; ++i) uniform.add(std::log(50.0));
  EXPECT_NEAR(perplexity(uniform).value, 50.0, 1e-9);
  EXPECT_NEAR(perplexity(uniform).err, 0.0, 1e-6);
  // p = 1/2 and 1/8: mean NLL = (ln 2 + ln 8) / 2 = ln 4, PPL = 4; sd of {ln2, ln8} = sqrt(2) ln 2,
  // error of the mean = sd / sqrt(2) = ln 2, PPL error = 4 ln 2.
  MeanAccumulator two;
  two.add(std::log(2.0));
  two.add(std::log(8.0));
  EXPECT_NEAR(perplexity(two).value, 4.0, 1e-12);
  EXPECT_NEAR(perplexity(two).err, 4.0 * std::log(2.0), 1e-12);
}

TEST(QualityMetrics, MeanErrorRmsAndProportion) {
  MeanAccumulator a;
  for (double x : {1.0, 2.0, 3.0, 4.0}) a.add(x);
  EXPECT_DOUBLE_EQ(a.mean(), 2.5);
  EXPECT_NEAR(a.estimate().err, std::sqrt(5.0 / 3.0) / 2.0, 1e-12);  // sd sqrt(5/3), n = 4
  EXPECT_NEAR(a.rms(), std::sqrt(7.5), 1e-12);
  MeanAccumulator one;
  one.add(3.0);
  EXPECT_TRUE(std::isnan(one.estimate().err)) << "no spread can be estimated from one value";
  EXPECT_TRUE(std::isnan(MeanAccumulator().mean()));
  const Estimate p = proportion(3, 4);
  EXPECT_DOUBLE_EQ(p.value, 0.75);
  EXPECT_NEAR(p.err, std::sqrt(0.75 * 0.25 / 3.0), 1e-12);
  EXPECT_DOUBLE_EQ(proportion(5, 5).err, 0.0);
}

TEST(QualityMetrics, PercentilesInterpolateBetweenOrderStatistics) {
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(double(i));  // 0..100, unsorted
  const Percentiles p = percentiles(v);
  EXPECT_DOUBLE_EQ(p.max, 100);
  EXPECT_DOUBLE_EQ(p.min, 0);
  EXPECT_DOUBLE_EQ(p.median, 50);
  EXPECT_NEAR(p.p99_9, 99.9, 1e-9);
  EXPECT_NEAR(p.p99, 99, 1e-9);
  EXPECT_NEAR(p.p95, 95, 1e-9);
  EXPECT_NEAR(p.p90, 90, 1e-9);
  EXPECT_NEAR(p.p10, 10, 1e-9);
  EXPECT_NEAR(p.p5, 5, 1e-9);
  EXPECT_NEAR(p.p1, 1, 1e-9);
  const std::vector<double> two{1.0, 3.0};
  EXPECT_DOUBLE_EQ(quantile_sorted(two, 0.25), 1.5);
  std::vector<double> none;
  EXPECT_THROW(percentiles(none), Error);
}

}  // namespace
}  // namespace eco::quality
