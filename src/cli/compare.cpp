// `ecocompute compare`: the energy regression gate for CI. Matches the configurations of two
// studies by identity (model weights, format, batch, lengths, GPU), tests each change with
// Welch's t-test, and exits 1 when a change is both significant and worse than the margin,
// 2 on invalid input (unreadable or corrupt database, nothing to compare, bad options).
#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/study.h"
#include "cli/analysis_json.h"
#include "cli/command.h"
#include "cli/study_input.h"
#include "common/error.h"

namespace {

using namespace eco;
using namespace eco::analysis;
using nlohmann::json;

constexpr int kRegression = 1;
constexpr int kInvalidInput = 2;

struct CompareArgs {
  std::string baseline, candidate, metric = metric::kDecodeJPerToken;
  std::string max_regression = "2%", alpha = "0.05", output = "md";
};

double parse_number(std::string text, const char* option, bool percent) {
  if (percent && !text.empty() && text.back() == '%') text.pop_back();
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    fail("{} '{}' is not a number{}", option, text, percent ? " (e.g. 2% or 2)" : "");
  return v;
}

std::vector<ConfigData> load(const std::string& path, const char* option) {
  if (path.empty()) fail("{} is required (a study database written by `ecocompute bench`)", option);
  auto st = cli::open_study(path, option);
  auto configs = cli::measured_configs(st);
  if (configs.empty())
    fail("{} {} holds no finished measured configuration (published imports are not compared)",
         option, path);
  return configs;
}

std::string verdict(const StudyChange& c) {
  if (c.regression) return "REGRESSION";
  if (c.improvement) return "improvement";
  if (c.significant) return "significant, within the margin";
  return "no significant change";
}

json to_json(const StudyComparison& r, const CompareArgs& a, double margin, double alpha) {
  json j{{"metric", a.metric},
         {"max_regression_pct", margin},
         {"alpha", alpha},
         {"changes", json::array()},
         {"only_baseline", json::array()},
         {"only_candidate", json::array()},
         {"regression", r.any_regression}};
  for (const auto& c : r.changes) {
    const WelchResult& w = c.welch;
    j["changes"].push_back({{"config", c.candidate->label},
                            {"baseline_mean", w.mean_b},
                            {"candidate_mean", w.mean_a},
                            {"baseline_n", c.baseline->find(a.metric)->moments.n},
                            {"candidate_n", c.candidate->find(a.metric)->moments.n},
                            {"delta_pct", w.delta_pct},
                            {"delta_pct_ci", {w.delta_pct_low, w.delta_pct_high}},
                            {"p", w.p_two_sided},
                            {"verdict", verdict(c)}});
  }
  for (const auto* c : r.only_baseline) j["only_baseline"].push_back(c->label);
  for (const auto* c : r.only_candidate) j["only_candidate"].push_back(c->label);
  return j;
}

std::string to_markdown(const json& j) {
  const double conf = 100 * (1 - j["alpha"].get<double>());
  std::string out = fmt::format(
      "# Energy comparison: {} (candidate vs baseline)\n\nA regression is a change worse than "
      "{:g} % with Welch's two-sided p < {:g}; the CI is the {:g} % CI of the difference over "
      "the baseline mean.\n\n| configuration | baseline (n) | candidate (n) | change | {:g} % CI "
      "| p | verdict |\n|---|---|---|---|---|---|---|\n",
      j["metric"].get<std::string>(), j["max_regression_pct"].get<double>(),
      j["alpha"].get<double>(), conf, conf);
  for (const auto& c : j["changes"])
    out += fmt::format(
        "| {} | {} ({}) | {} ({}) | {:+.2f} % | {:+.2f} % to {:+.2f} % | {} | {} |\n",
        c["config"].get<std::string>(), cli::num(c["baseline_mean"]), c["baseline_n"].get<int>(),
        cli::num(c["candidate_mean"]), c["candidate_n"].get<int>(), c["delta_pct"].get<double>(),
        c["delta_pct_ci"][0].get<double>(), c["delta_pct_ci"][1].get<double>(), cli::num(c["p"], 2),
        c["verdict"].get<std::string>());
  for (const auto& l : j["only_baseline"])
    out += fmt::format("\nOnly in the baseline (not compared): {}", l.get<std::string>());
  for (const auto& l : j["only_candidate"])
    out += fmt::format("\nOnly in the candidate (not compared): {}", l.get<std::string>());
  out += fmt::format("\n\nResult: {}\n", j["regression"].get<bool>()
                                             ? "significant energy regression (exit status 1)"
                                             : "no significant regression (exit status 0)");
  return out;
}

int run(const CompareArgs& a) {
  if (a.output != "md" && a.output != "json") fail("-o must be md or json (got '{}')", a.output);
  const double margin = parse_number(a.max_regression, "--max-regression", true);
  const double alpha = parse_number(a.alpha, "--alpha", false);
  const auto base = load(a.baseline, "--baseline");
  const auto cand = load(a.candidate, "--candidate");
  const StudyComparison r = compare_studies(base, cand, a.metric, margin, alpha);
  if (r.changes.empty()) {
    std::string have;
    for (const auto& c : base) have += "\n  baseline:  " + c.label;
    for (const auto& c : cand) have += "\n  candidate: " + c.label;
    fail(
        "no configuration of {} matches one of {} (model weights, format, batch, lengths and "
        "GPU must all agree):{}",
        a.candidate, a.baseline, have);
  }
  const json j = to_json(r, a, margin, alpha);
  fmt::print("{}", a.output == "json" ? j.dump(2) + "\n" : to_markdown(j));
  return r.any_regression ? kRegression : 0;
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<CompareArgs>();
  sub.add_option("--baseline", a->baseline, "Study database of the reference (e.g. main)");
  sub.add_option("--candidate", a->candidate, "Study database of the change under test");
  sub.add_option("--metric", a->metric,
                 fmt::format("Metric to compare: {}", fmt::join(comparable_metrics(), ", ")))
      ->capture_default_str();
  sub.add_option("--max-regression", a->max_regression,
                 "Margin: a significant change worse than this fails (percent)")
      ->capture_default_str();
  sub.add_option("--alpha", a->alpha, "Significance level of Welch's test")->capture_default_str();
  sub.add_option("-o,--output", a->output, "md or json")->capture_default_str();
  sub.callback([a] {
    int code = 0;
    try {
      code = run(*a);
    } catch (const Error& e) {
      std::fflush(stdout);
      fmt::print(stderr, "ecocompute compare: invalid input: {}\n", e.what());
      throw cli::ExitCode{kInvalidInput};
    }
    if (code != 0) throw cli::ExitCode{code};
  });
}

}  // namespace

ECO_COMMAND("compare",
            "Energy regression gate: exit 1 on a significant regression beyond the margin, 2 on "
            "invalid input",
            setup);
