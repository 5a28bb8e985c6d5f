#include "analysis/study.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace eco::analysis {
namespace {

ConfigData config(const std::string& format, int batch, double params_b,
                  const std::vector<double>& j_per_token, double kld = NAN) {
  ConfigData c;
  c.source = "measured";
  c.model = c.model_key = fmt::format("m{:g}", params_b);
  c.format = format;
  c.batch = batch;
  c.params_b = params_b;
  c.device = c.gpu = "G";
  c.gen_len = 32;
  c.kld = kld;
  c.label = fmt::format("{} / {} / bs {}", c.model, format, batch);
  Sample s;
  s.runs = j_per_token;
  s.moments = moments(j_per_token);
  c.metrics[metric::kJPerToken] = s;
  // Seconds per token fixed at 1 ms: power = energy / time, so the split puts it all in power.
  Sample t;
  t.runs.assign(j_per_token.size(), 1e-3);
  t.moments = moments(t.runs);
  c.metrics[metric::kSecondsPerToken] = t;
  c.metrics[metric::kGrossJPerToken] = s;
  return c;
}

TEST(Study, ComparesEachFormatWithTheBaselineOfItsGroupAndAdjustsForMany) {
  const std::vector<ConfigData> cs{
      config("fp16", 1, 1, {1.0, 1.01, 0.99}), config("nf4", 1, 1, {1.2, 1.21, 1.19}),
      config("int8", 1, 1, {1.5, 1.52, 1.48}), config("fp16", 4, 1, {0.4, 0.41, 0.39})};
  const StudyAnalysis a = analyze_study(cs, {});
  ASSERT_EQ(a.comparisons.size(), 2u);  // nf4 and int8 at batch 1; batch 4 has no other format
  for (const auto& c : a.comparisons) {
    EXPECT_EQ(c.baseline->format, "fp16");
    EXPECT_EQ(c.baseline->batch, 1);
    EXPECT_GE(c.p_holm, c.welch.p_two_sided);  // Holm never lowers a p-value
    ASSERT_TRUE(c.has_split);
    EXPECT_NEAR(c.split.gross.time_ratio, 1.0, 1e-12);
    EXPECT_NEAR(c.split.gross.power_ratio, c.split.gross.energy_ratio, 1e-12);
  }
  EXPECT_NEAR(a.comparisons[0].welch.delta_pct, 20.0, 1e-9);
  // The batch law over the fp16 series (two batch sizes).
  ASSERT_FALSE(a.batch_laws.empty());
  EXPECT_NEAR(-a.batch_laws[0].fit.b, std::log(2.5) / std::log(4.0), 1e-2);
  // A configuration label as the baseline: everything else against that one configuration.
  AnalyzeOptions one;
  one.baseline = cs[3].label;
  const StudyAnalysis b = analyze_study(cs, one);
  ASSERT_EQ(b.comparisons.size(), 3u);
  for (const auto& c : b.comparisons) EXPECT_EQ(c.baseline, &cs[3]);
  EXPECT_TRUE(b.crossovers.empty());
  // A metric the configurations lack (energy not measured): no change rather than +0 %.
  AnalyzeOptions decode;
  decode.metric = metric::kDecodeJPerToken;
  const StudyAnalysis d = analyze_study(cs, decode);
  ASSERT_EQ(d.comparisons.size(), 2u);
  EXPECT_TRUE(std::isnan(d.comparisons[0].welch.delta_pct));
  EXPECT_FALSE(d.comparisons[0].testable);
  AnalyzeOptions bad;
  bad.baseline = "fp8";
  EXPECT_THROW(analyze_study(cs, bad), Error);
}

TEST(Study, CrossoverAndParetoAcrossTheSet) {
  // nf4 costs 20 % at 1 B and saves 20 % at 8 B.
  std::vector<ConfigData> cs{
      config("fp16", 1, 1, {1.0, 1.01, 0.99}, 0.0), config("nf4", 1, 1, {1.2, 1.21, 1.19}, 0.05),
      config("int8", 1, 1, {1.3, 1.31, 1.29}, 0.01), config("fp16", 1, 8, {4.0, 4.04, 3.96}),
      config("nf4", 1, 8, {3.2, 3.23, 3.17})};
  const StudyAnalysis a = analyze_study(cs, {});
  ASSERT_EQ(a.crossovers.size(), 1u);
  EXPECT_TRUE(a.crossovers[0].crossover.found);
  const double f = std::log(1.2) / (std::log(1.2) - std::log(0.8));  // of the way in ln size
  EXPECT_NEAR(a.crossovers[0].crossover.params_b, std::exp(f * std::log(8.0)), 1e-9);
  ASSERT_EQ(a.pareto.size(), 1u);
  // fp16 is lowest in both; nf4 and int8 are dominated by it.
  ASSERT_EQ(a.pareto[0].front.size(), 1u);
  EXPECT_EQ(a.pareto[0].front[0]->format, "fp16");
}

TEST(Study, CrossoverLeavesOutSizesWithoutPositiveEnergy) {
  // At 4 B the net energy of fp16 came out negative (lost in idle noise): no ratio there, and
  // the analysis goes on with the other sizes instead of failing.
  std::vector<ConfigData> cs{
      config("fp16", 1, 1, {1.0, 1.01, 0.99}),    config("nf4", 1, 1, {1.2, 1.21, 1.19}),
      config("fp16", 1, 4, {-0.1, -0.12, -0.08}), config("nf4", 1, 4, {0.9, 0.91, 0.89}),
      config("fp16", 1, 8, {4.0, 4.04, 3.96}),    config("nf4", 1, 8, {3.2, 3.23, 3.17})};
  const StudyAnalysis a = analyze_study(cs, {});
  ASSERT_EQ(a.crossovers.size(), 1u);
  EXPECT_EQ(a.crossovers[0].crossover.sizes, (std::vector<double>{1, 8}));
  EXPECT_TRUE(a.crossovers[0].crossover.found);
}

TEST(Study, CompareStudiesDirectionMarginAndMatching) {
  const std::vector<ConfigData> base{config("fp16", 1, 1, {1.0, 1.01, 0.99, 1.0})};
  const std::vector<ConfigData> worse{config("fp16", 1, 1, {1.10, 1.11, 1.09, 1.1}),
                                      config("nf4", 1, 1, {1.0, 1.0, 1.0})};
  const StudyComparison r = compare_studies(base, worse, metric::kJPerToken, 2.0, 0.05);
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_TRUE(r.changes[0].regression);
  EXPECT_TRUE(r.any_regression);
  EXPECT_EQ(r.only_candidate.size(), 1u);
  // The same change is within a 15 % margin.
  EXPECT_FALSE(compare_studies(base, worse, metric::kJPerToken, 15.0, 0.05).any_regression);
  // Lower energy is an improvement, never a regression.
  const StudyComparison better = compare_studies(worse, base, metric::kJPerToken, 2.0, 0.05);
  EXPECT_FALSE(better.any_regression);
  EXPECT_TRUE(better.changes[0].improvement);
  EXPECT_THROW(compare_studies(base, worse, "watts_per_vibe", 2.0, 0.05), Error);
  EXPECT_THROW(compare_studies(base, worse, metric::kJPerToken, -1.0, 0.05), Error);
  EXPECT_TRUE(higher_is_worse(metric::kDecodeJPerToken));
  EXPECT_FALSE(higher_is_worse(metric::kTokensPerSecond));
}

}  // namespace
}  // namespace eco::analysis
