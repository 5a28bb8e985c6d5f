// `ecocompute analyze`: every configuration of a study with its uncertainty, every comparison
// against a baseline with its CI, p-value and explanation, the batch-size law, crossovers, the
// energy/quality Pareto front, and cost and carbon with their formulas. Measured runs and each
// import of published results are analysed as separate sources, never pooled.
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/cost.h"
#include "analysis/study.h"
#include "cli/analysis_json.h"
#include "cli/command.h"
#include "cli/study_input.h"
#include "common/error.h"

namespace {

using nlohmann::json;
using namespace eco;
using namespace eco::analysis;

struct AnalyzeArgs {
  std::string db, baseline = "fp16", output = "md", metric = analysis::metric::kJPerToken;
  std::string grid_region, out;
  double grid_g_per_kwh = NAN, usd_per_kwh = 0.15, pue = 1.0, gpu_hour_usd = NAN;
  double returns_threshold = 0.05;
  bool bootstrap = false;
};

json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json config_json(const ConfigData& c, const AnalyzeArgs& a, const CostInputs& cost) {
  json j{{"label", c.label}, {"model", c.model},     {"format", c.format},
         {"gpu", c.gpu},     {"batch", c.batch},     {"params_b", number(c.params_b)},
         {"gate", c.gate},   {"kld", number(c.kld)}, {"prefill_share", number(c.prefill_share)}};
  for (const auto& [name, s] : c.metrics) {
    json m{{"n", s.moments.n}, {"mean", number(s.moments.mean)}, {"sd", number(s.moments.sd)}};
    if (s.moments.n >= 2 && std::isfinite(s.moments.sd)) {
      const Summary sum = summarize(s.moments);
      m["cv"] = number(sum.cv);
      m["ci95"] = {number(sum.ci_low), number(sum.ci_high)};
      if (a.bootstrap && s.runs.size() >= 2) {
        const Interval b = bootstrap_mean_ci(s.runs);
        m["bootstrap_ci95"] = {b.low, b.high};
      }
    }
    j["metrics"][name] = m;
  }
  const Sample* jt = c.find(metric::kJPerToken);
  const Sample* tps = c.find(metric::kTokensPerSecond);
  if (jt) {
    const CostResult r = cost_of(jt->moments.mean, tps ? tps->moments.mean : NAN, cost);
    j["cost"] = {{"kwh_per_1m_tokens", r.kwh_per_million_tokens},
                 {"usd_energy_per_1m_tokens", r.usd_energy_per_million_tokens},
                 {"g_co2e_per_1k_tokens", r.g_co2e_per_1k_tokens},
                 {"usd_gpu_per_1m_tokens", number(r.usd_gpu_per_million_tokens)}};
  }
  return j;
}

json ratio_json(const EnergyRatio& r) {
  return {{"energy_ratio", r.energy_ratio},
          {"time_ratio", r.time_ratio},
          {"power_ratio", r.power_ratio},
          {"time_share", number(r.time_share)}};
}

json comparison_json(const Comparison& c) {
  const WelchResult& w = c.welch;
  json j{{"config", c.config->label},
         {"baseline", c.baseline->label},
         {"metric", c.metric},
         {"mean", number(w.mean_a)},
         {"baseline_mean", number(w.mean_b)},
         {"delta_pct", number(w.delta_pct)},
         {"testable", c.testable}};
  if (c.testable) {
    j["delta_pct_ci95"] = {number(w.delta_pct_low), number(w.delta_pct_high)};
    j["p"] = number(w.p_two_sided);
    j["p_holm"] = number(c.p_holm);
    j["t"] = number(w.t);
    j["df"] = number(w.df);
    j["hedges_g"] = number(c.effect.hedges_g);
  }
  if (c.has_split) {
    j["split_gross"] = ratio_json(c.split.gross);
    if (c.split.has_net) j["split_net"] = ratio_json(c.split.net);
  }
  return j;
}

json analysis_json(const std::vector<ConfigData>& cs, const AnalyzeArgs& a,
                   const CostInputs& cost) {
  AnalyzeOptions o;
  o.baseline = a.baseline;
  o.metric = a.metric;
  o.returns_threshold = a.returns_threshold;
  const StudyAnalysis s = analyze_study(cs, o);
  json j{{"configurations", json::array()},
         {"comparisons", json::array()},
         {"batch_laws", json::array()},
         {"crossovers", json::array()},
         {"pareto", json::array()}};
  for (const auto& c : cs) j["configurations"].push_back(config_json(c, a, cost));
  for (const auto& c : s.comparisons) j["comparisons"].push_back(comparison_json(c));
  for (const auto& l : s.batch_laws)
    j["batch_laws"].push_back(
        {{"series", l.series},
         {"metric", l.metric},
         {"batches", l.batches},
         {"C", l.fit.a},
         {"alpha", -l.fit.b},
         {"alpha_ci95", {number(-l.fit.b_ci_high), number(-l.fit.b_ci_low)}},
         {"r_squared", l.fit.r_squared},
         {"points", l.fit.n},
         {"threshold", l.threshold},
         {"saves", l.returns.saves},
         {"returns_batch", number(l.returns.batch)},
         {"returns_batch_range", {number(l.returns.low), number(l.returns.high)}}});
  for (const auto& x : s.crossovers) {
    const Crossover& c = x.crossover;
    j["crossovers"].push_back({{"series", x.series},
                               {"format", x.format},
                               {"baseline", x.baseline_format},
                               {"models", x.models},
                               {"sizes_b", c.sizes},
                               {"ratios", c.ratios},
                               {"found", c.found},
                               {"params_b", number(c.params_b)},
                               {"ci95", {number(c.low), number(c.high)}},
                               {"replicate_share", c.replicate_share},
                               {"direction", c.direction}});
  }
  for (const auto& g : s.pareto) {
    json p{{"group", g.group}, {"points", json::array()}, {"front", json::array()}};
    for (const auto* c : g.points) p["points"].push_back(c->label);
    for (const auto* c : g.front) p["front"].push_back(c->label);
    j["pareto"].push_back(p);
  }
  return j;
}

CostInputs cost_inputs(const AnalyzeArgs& a) {
  CostInputs c;
  c.usd_per_kwh = a.usd_per_kwh;
  c.pue = a.pue;
  c.gpu_hour_usd = a.gpu_hour_usd;
  if (!std::isnan(a.grid_g_per_kwh)) {
    if (!a.grid_region.empty()) fail("give --grid or --grid-gco2-per-kwh, not both");
    c.grid_g_per_kwh = a.grid_g_per_kwh;
    c.grid_label = "--grid-gco2-per-kwh";
  } else if (!a.grid_region.empty()) {
    const auto g = find_grid(a.grid_region);
    if (!g)
      fail(
          "--grid '{}' is not in the bundled table (data/grid_carbon_intensity.csv); give "
          "--grid-gco2-per-kwh for this grid",
          a.grid_region);
    c.grid_g_per_kwh = g->g_co2e_per_kwh;
    c.grid_label = fmt::format("{} ({}, Ember {})", g->region, g->name, g->year);
  }
  validate(c);
  return c;
}

json published_checks(const cli::PublishedSet& p) {
  json j{{"findings", json::array()}, {"claims", json::array()}};
  for (const auto& f : check_published(p.rows))
    j["findings"].push_back({{"line", f.line},
                             {"kind", f.kind},
                             {"severity", std::string(to_string(f.severity))},
                             {"message", f.message}});
  for (const auto& c : check_claims(p.rows, p.claims))
    j["claims"].push_back({{"id", c.claim->id},
                           {"statement", c.claim->statement},
                           {"consistent", c.consistent},
                           {"message", c.message}});
  return j;
}

json build_document(const AnalyzeArgs& a) {
  const CostInputs cost = cost_inputs(a);
  auto st = cli::open_study(a.db, "--db");
  json doc{
      {"database", a.db},
      {"metric", a.metric},
      {"baseline", a.baseline},
      {"cost_formulas", cost_formulas(cost)},
      {"cost_defaults", fmt::format("{} $/kWh, PUE {}, grid {} gCO2e/kWh ({})", cost.usd_per_kwh,
                                    cost.pue, cost.grid_g_per_kwh, cost.grid_label)},
      {"sources", json::array()}};
  const auto measured = cli::measured_configs(st);
  if (!measured.empty()) {
    json s = analysis_json(measured, a, cost);
    s["source"] = "measured";
    doc["sources"].push_back(s);
  }
  for (const auto& p : cli::published_sets(st)) {
    AnalyzeArgs pa = a;
    if (a.metric == metric::kDecodeJPerToken || a.metric == metric::kPrefillJPerToken)
      pa.metric = metric::kJPerToken;  // a published table has whole-run energy only
    json s = analysis_json(p.configs, pa, cost);
    s["source"] = p.source;
    s["imported_at"] = p.import.imported_at;
    s["checks"] = published_checks(p);
    doc["sources"].push_back(s);
  }
  if (doc["sources"].empty())
    fail(
        "{} holds no finished configuration and no published results: run `ecocompute bench` "
        "or `ecocompute import` first",
        a.db);
  return doc;
}

void run(const AnalyzeArgs& a) {
  if (a.output != "md" && a.output != "json") fail("-o must be md or json (got '{}')", a.output);
  const json doc = build_document(a);
  const std::string text =
      a.output == "json" ? doc.dump(2) + "\n" : cli::render_analysis_markdown(doc);
  if (a.out.empty()) {
    fmt::print("{}", text);
    return;
  }
  std::ofstream f(a.out, std::ios::binary | std::ios::trunc);
  if (!f || !(f << text).flush()) fail("--out: cannot write '{}'", a.out);
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<AnalyzeArgs>();
  sub.add_option("--db", a->db, "Study database (bench runs and/or imported published results)")
      ->required();
  sub.add_option("--baseline", a->baseline,
                 "Format every other format is compared with (per model, batch and length), or "
                 "one configuration's label")
      ->capture_default_str();
  sub.add_option("-o,--output", a->output, "md or json")->capture_default_str();
  sub.add_option("--out", a->out, "Write to this file instead of stdout");
  sub.add_option("--metric", a->metric, "Metric compared against the baseline")
      ->capture_default_str();
  sub.add_flag("--bootstrap", a->bootstrap, "Add a percentile bootstrap CI beside the t CI");
  sub.add_option("--returns-threshold", a->returns_threshold,
                 "Batch law: doubling the batch saves less than this fraction of E(1) beyond the "
                 "reported batch size")
      ->capture_default_str();
  sub.add_option("--usd-per-kwh", a->usd_per_kwh, "Electricity price (default: illustrative)")
      ->capture_default_str();
  sub.add_option("--pue", a->pue, "Facility power usage effectiveness (1.0 = GPU only)")
      ->capture_default_str();
  sub.add_option("--grid", a->grid_region,
                 "Grid region of data/grid_carbon_intensity.csv (code or name; default WORLD)");
  sub.add_option("--grid-gco2-per-kwh", a->grid_g_per_kwh, "Grid carbon intensity to use instead");
  sub.add_option("--gpu-hour-usd", a->gpu_hour_usd, "Price of one GPU hour, for GPU-time cost");
  sub.callback([a] { run(*a); });
}

}  // namespace

nlohmann::json eco::cli::analysis_document(const std::string& db) {
  AnalyzeArgs a;
  a.db = db;
  return build_document(a);
}

ECO_COMMAND("analyze", "Statistics, comparisons, batch law, crossovers, Pareto front, cost", setup);
