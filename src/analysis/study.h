#pragma once
// A study as analysis sees it: configurations, each with per-run samples of its metrics (or
// only the moments a published table gives), and the analyses over them: summaries with CIs,
// comparisons against a baseline with the time x power split, the batch-size law, crossovers
// along model size, the energy/quality Pareto front, and the comparison of two studies.
// Everything arrives as plain structs: the CLI reads the store and fills them.
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "analysis/compare.h"
#include "analysis/explain.h"
#include "analysis/fit.h"
#include "analysis/stats.h"

namespace eco::analysis {

// Metric names (per-run values; energies in joules, per generated token unless named).
namespace metric {
inline constexpr const char* kJPerToken = "j_per_token";  // net where idle was measured
inline constexpr const char* kGrossJPerToken = "gross_j_per_token";
inline constexpr const char* kNetJPerToken = "net_j_per_token";
inline constexpr const char* kSecondsPerToken = "s_per_token";
inline constexpr const char* kTokensPerSecond = "tok_s";
inline constexpr const char* kPowerW = "power_w";
inline constexpr const char* kJPerRequest = "j_per_request";
inline constexpr const char* kPrefillJPerToken = "prefill_j_per_token";
inline constexpr const char* kDecodeJPerToken = "decode_j_per_token";
}  // namespace metric

// Whether a larger value of the metric is worse (energy, time) or better (throughput).
bool higher_is_worse(const std::string& metric);
// The metrics `compare --metric` accepts.
const std::vector<std::string>& comparable_metrics();

struct Sample {
  Moments moments;           // sd NaN when the source gave no spread
  std::vector<double> runs;  // per-run values; empty for published means
};

struct ConfigData {
  std::string source;     // "measured", or "published: FILE"
  std::string label;      // for people: model / format / bs N / prompt+gen / gpu
  std::string model_key;  // the model's identity across studies (weight hashes, or its name)
  std::string device;     // where it ran (the GPU's name, or the device string)
  std::string gpu, model, format;
  double params_b = std::numeric_limits<double>::quiet_NaN();
  int batch = 1, prompt_len = 0, gen_len = 0;
  std::string gate;  // the protocol's verdict, or "published"
  std::map<std::string, Sample> metrics;
  double prefill_share = std::numeric_limits<double>::quiet_NaN();  // of prefill + decode energy
  double kld = std::numeric_limits<double>::quiet_NaN();            // nats/token vs the base
  // The identity that matches the same configuration across studies, and the same with one
  // field left out ("format", "model" or "batch"): configurations that differ only there.
  std::string key() const { return without(""); }
  std::string without(const std::string& field) const;
  // The same for people (model names instead of weight hashes).
  std::string describe_without(const std::string& field) const;
  const Sample* find(const std::string& m) const;
};

struct Comparison {
  const ConfigData* config = nullptr;
  const ConfigData* baseline = nullptr;
  std::string metric;
  bool testable = false;  // both have n >= 2 and a known spread
  WelchResult welch;      // when testable; otherwise only the means and delta_pct are set
  EffectSize effect;
  double p_holm = std::numeric_limits<double>::quiet_NaN();  // over every test of the report
  bool has_split = false;
  EnergySplit split;  // per generated token, from mean energies and mean seconds
};

struct BatchLaw {
  std::string series;  // the configurations' shared identity
  std::string metric;  // j_per_request or j_per_token
  PowerLawFit fit;     // E = a B^b; alpha = -b
  DiminishingReturns returns;
  double threshold = 0.05;
  std::vector<int> batches;
};

struct CrossoverResult {
  std::string series;  // gpu / format / bs / lengths
  std::string format, baseline_format;
  std::vector<std::string> models;
  Crossover crossover;
};

struct ParetoGroup {
  std::string group;
  std::vector<const ConfigData*> points;  // with a KL divergence
  std::vector<const ConfigData*> front;
};

struct AnalyzeOptions {
  std::string baseline = "fp16";  // a format label (per group) or a configuration label
  std::string metric = metric::kJPerToken;
  double returns_threshold = 0.05;
  double confidence = 0.95;
};

struct StudyAnalysis {
  std::vector<Comparison> comparisons;
  std::vector<BatchLaw> batch_laws;
  std::vector<CrossoverResult> crossovers;
  std::vector<ParetoGroup> pareto;
};

// Runs every analysis on configurations of one source (the caller never mixes sources).
// Throws eco::Error when --baseline names neither a format nor a configuration of the set.
StudyAnalysis analyze_study(const std::vector<ConfigData>& configs, const AnalyzeOptions& opt);

// `compare`: one change per configuration present in both studies.
struct StudyChange {
  const ConfigData* baseline = nullptr;
  const ConfigData* candidate = nullptr;
  bool testable = false;
  WelchResult welch;  // candidate - baseline
  bool significant = false;
  bool regression = false;  // significant and worse than the margin
  bool improvement = false;
};
struct StudyComparison {
  std::vector<StudyChange> changes;
  std::vector<const ConfigData*> only_baseline, only_candidate;
  bool any_regression = false;
};
// `max_regression_pct`: the margin in percent (a change worse than it and significant at
// `alpha` is a regression). Throws eco::Error for a metric the configurations lack.
StudyComparison compare_studies(const std::vector<ConfigData>& baseline,
                                const std::vector<ConfigData>& candidate, const std::string& metric,
                                double max_regression_pct, double alpha);

}  // namespace eco::analysis
