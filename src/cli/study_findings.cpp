// The findings tables: INT8 at its default threshold against fp16, the outlier threshold's
// energy and quality, NF4 along model size with its crossover, and the batch-size law.
#include "cli/study_findings.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/study.h"
#include "cli/analysis_json.h"
#include "cli/study_input.h"
#include "common/error.h"
#include "store/export.h"

namespace eco::cli {

namespace {

using analysis::Comparison;
using analysis::ConfigData;
namespace metric = analysis::metric;

struct Quality {
  double kld = NAN, ln_ppl_ratio = NAN;
};

// As measured_configs names a model: a synthetic spec as it is, a directory by its name.
std::string display_model(const std::string& source) {
  if (source.rfind("synthetic:", 0) == 0) return source;
  const std::filesystem::path p(source);
  return p.has_filename() ? p.filename().string() : p.parent_path().filename().string();
}

// Latest quality score against fp16 per "model|format label".
std::map<std::string, Quality> quality_by_config(store::Store& st) {
  const store::Table t = store::export_table(st, store::ExportTable::Quality);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < t.columns.size(); ++i) col[t.columns[i]] = i;
  auto text = [](const store::Cell& c) {
    const auto* s = std::get_if<std::string>(&c);
    return s ? *s : std::string();
  };
  auto number = [](const store::Cell& c) {
    if (const auto* d = std::get_if<double>(&c)) return *d;
    if (const auto* i = std::get_if<int64_t>(&c)) return double(*i);
    return double(NAN);
  };
  std::map<std::string, Quality> out;
  for (const auto& r : t.rows) {
    if (text(r[col.at("base_format")]) != "fp16") continue;
    const std::string key =
        display_model(text(r[col.at("model")])) + "|" +
        format_label(text(r[col.at("format")]), text(r[col.at("format_params")]));
    out[key] = {number(r[col.at("kld")]), number(r[col.at("ln_ppl_ratio")])};
  }
  return out;
}

std::string pct(double v) {
  return std::isfinite(v) ? fmt::format("{:+.1f} %", v) : "n/a";
}

double mean_of(const ConfigData& c, const char* m) {
  const auto* s = c.find(m);
  return s ? s->moments.mean : NAN;
}

std::string change_cells(const Comparison& c) {
  const auto& w = c.welch;
  if (!c.testable) return fmt::format("{} | no spread known | n/a", pct(w.delta_pct));
  return fmt::format("{} | {} to {} | {}", pct(w.delta_pct), pct(w.delta_pct_low),
                     pct(w.delta_pct_high), num(c.p_holm, 2));
}

std::string ratio_text(const analysis::EnergyRatio& r) {
  return fmt::format("{} = {} x {}", num(r.energy_ratio, 3), num(r.time_ratio, 3),
                     num(r.power_ratio, 3));
}

std::string split_cell(const Comparison& c) {
  if (!c.has_split) return "n/a";
  return ratio_text(c.split.has_net ? c.split.net : c.split.gross);
}

// The same split with idle power included (gross), which the study's RTX 5090 and A800
// figures are: a slow format pays the card's rest power for longer.
std::string gross_split_cell(const Comparison& c) {
  return c.has_split ? ratio_text(c.split.gross) : "n/a";
}

struct Context {
  std::vector<ConfigData> configs;
  analysis::StudyAnalysis analysis;
  std::map<std::string, Quality> quality;
  const Quality* quality_of(const ConfigData& c) const {
    const auto it = quality.find(c.model + "|" + c.format);
    return it == quality.end() ? nullptr : &it->second;
  }
  std::string kld(const ConfigData& c) const {
    const Quality* q = quality_of(c);
    return q ? num(q->kld, 3) : "not scored";
  }
};

// Threshold of an int8 label "int8(t=2,fused)" (NaN for other formats or reference-bnb).
double fused_threshold(const std::string& label) {
  if (label.rfind("int8", 0) != 0 || label.find(",fused)") == std::string::npos) return NAN;
  const size_t t = label.find("(t=");
  return t == std::string::npos ? NAN : std::atof(label.c_str() + t + 3);
}

void int8_default(std::string& out, const Context& x) {
  out +=
      "\n## Claim 1: LLM.int8() at its default threshold (6) costs more energy than fp16\n\n"
      "Batch 1. Change = (int8 - fp16) / fp16 of J/token (net of idle power where it was "
      "measured); CI and p from Welch's "
      "test, p Holm-adjusted over every comparison of the study; net energy ratio = time ratio x "
      "power ratio; gross: the same with idle power included.\n\n"
      "| model | params (B) | format | fp16 J/token | int8 J/token | change | 95 % CI | p (Holm) "
      "| energy = time x power | gross energy = time x power | KL div. vs fp16 |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : x.analysis.comparisons)
    if (c.config->batch == 1 && c.config->format.rfind("int8(t=6,", 0) == 0)
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c.config->model,
                         num(c.config->params_b, 3), c.config->format,
                         num(mean_of(*c.baseline, metric::kJPerToken)),
                         num(mean_of(*c.config, metric::kJPerToken)), change_cells(c),
                         split_cell(c), gross_split_cell(c), x.kld(*c.config));
}

void thresholds(std::string& out, const Context& x) {
  out +=
      "\n## Claim 2: threshold 0 (pure int8) recovers the energy, at a quality cost\n\n"
      "Batch 1, fused LLM.int8() at each outlier threshold on the models measured at three or "
      "more thresholds; quality from `ecocompute quality` on the same model and format.\n\n"
      "| model | threshold | J/token | change vs fp16 | 95 % CI | p (Holm) | energy = time x "
      "power | KL div. vs fp16 | ln(PPL / PPL fp16) |\n|---|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::vector<const Comparison*>> by_model;
  for (const auto& c : x.analysis.comparisons)
    if (c.config->batch == 1 && std::isfinite(fused_threshold(c.config->format)))
      by_model[c.config->model].push_back(&c);
  for (auto& [model, cs] : by_model) {
    if (cs.size() < 3) continue;
    std::sort(cs.begin(), cs.end(), [](const Comparison* a, const Comparison* b) {
      return fused_threshold(a->config->format) < fused_threshold(b->config->format);
    });
    for (const Comparison* c : cs) {
      const Quality* q = x.quality_of(*c->config);
      out += fmt::format(
          "| {} | {:g} | {} | {} | {} | {} | {} |\n", model, fused_threshold(c->config->format),
          num(mean_of(*c->config, metric::kJPerToken)), change_cells(*c), split_cell(*c),
          q ? num(q->kld, 3) : "not scored", q ? num(q->ln_ppl_ratio, 3) : "not scored");
    }
  }
}

void nf4_crossover(std::string& out, const Context& x) {
  out +=
      "\n## Claim 3: NF4 costs energy on small models and saves it on large ones\n\n"
      "Batch 1, J/token against fp16 of the same model, by model size (net of idle power "
      "where it was measured); gross: the same ratio with idle power included, which does not "
      "depend on the idle baseline subtracted.\n\n"
      "| model | params (B) | format | change vs fp16 | 95 % CI | p (Holm) | energy = time x "
      "power | gross energy = time x power | KL div. vs fp16 |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  std::vector<const Comparison*> rows;
  for (const auto& c : x.analysis.comparisons)
    if (c.config->batch == 1 && c.config->format.rfind("nf4", 0) == 0) rows.push_back(&c);
  std::stable_sort(rows.begin(), rows.end(), [](const Comparison* a, const Comparison* b) {
    return std::tie(a->config->format, a->config->params_b) <
           std::tie(b->config->format, b->config->params_b);
  });
  for (const Comparison* c : rows)
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", c->config->model,
                       num(c->config->params_b, 3), c->config->format, change_cells(*c),
                       split_cell(*c), gross_split_cell(*c), x.kld(*c->config));
  out +=
      "\nCrossover: the size where the format's J/token reaches fp16's (interpolated in log size "
      "and log ratio; 95 % interval from resampling every mean).\n\n"
      "| format vs fp16 | series | sizes (B) | crossover | 95 % interval "
      "|\n|---|---|---|---|---|\n";
  for (const auto& r : x.analysis.crossovers) {
    if (r.format.rfind("nf4", 0) != 0) continue;
    const auto& k = r.crossover;
    std::vector<std::string> sizes;
    for (double s : k.sizes) sizes.push_back(num(s, 3));
    const std::string where = k.found ? fmt::format("{} B ({})", num(k.params_b, 3),
                                                    k.direction > 0 ? "costs below, saves above"
                                                                    : "saves below, costs above")
                                      : "none in this range";
    out += fmt::format("| {} | {} | {} | {} | {} |\n", r.format, r.series, fmt::join(sizes, ", "),
                       where,
                       k.found ? fmt::format("{} to {} B", num(k.low, 3), num(k.high, 3)) : "n/a");
  }
}

void batch_law(std::string& out, const Context& x) {
  out +=
      "\n## Claim 4: batch size is the largest lever (E = C x B^-alpha)\n\n"
      "J/request against batch size, fitted by least squares on ln E against ln B over every "
      "run; alpha's 95 % CI is Student t with n - 2 degrees of freedom.\n\n"
      "| series | batches | alpha | 95 % CI | R^2 | J/request at the smallest batch | at the "
      "largest | change |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& l : x.analysis.batch_laws) {
    if (l.metric != metric::kJPerRequest || l.batches.size() < 3) continue;
    const int lo = l.batches.front(), hi = l.batches.back();
    double e_lo = NAN, e_hi = NAN;
    for (const auto& c : x.configs)
      if (c.describe_without("batch") == l.series) {
        if (c.batch == lo) e_lo = mean_of(c, metric::kJPerRequest);
        if (c.batch == hi) e_hi = mean_of(c, metric::kJPerRequest);
      }
    out += fmt::format("| {} | {} | {} | {} to {} | {} | {} (B={}) | {} (B={}) | {} |\n", l.series,
                       fmt::join(l.batches, ", "), num(-l.fit.b, 3), num(-l.fit.b_ci_high, 3),
                       num(-l.fit.b_ci_low, 3), num(l.fit.r_squared, 4), num(e_lo), lo, num(e_hi),
                       hi, pct(100 * (e_hi / e_lo - 1)));
  }
}

// The model measured in the most configurations (the study's mistral-7b).
std::string busiest_model(const std::vector<ConfigData>& cs) {
  std::map<std::string, int> n;
  for (const auto& c : cs) ++n[c.model];
  std::string best;
  for (const auto& [m, k] : n)
    if (best.empty() || k > n[best]) best = m;
  return best;
}

void energy_shares(std::string& out, const Context& x) {
  const std::string model = busiest_model(x.configs);
  out += fmt::format(
      "\n## Where the energy goes: idle power and prefill vs decode ({})\n\n"
      "Idle share = (gross - net) / gross J/token: the part of the metered energy the card "
      "draws at rest over the run's duration. Prefill share: prefill's part of prefill + "
      "decode energy.\n\n"
      "| format | batch | gross J/token | net J/token | idle share | prefill share | generated "
      "tokens/s | mean W |\n|---|---|---|---|---|---|---|---|\n",
      model);
  std::vector<const ConfigData*> rows;
  for (const auto& c : x.configs)
    if (c.model == model) rows.push_back(&c);
  std::stable_sort(rows.begin(), rows.end(), [](const ConfigData* a, const ConfigData* b) {
    return std::tie(a->format, a->batch) < std::tie(b->format, b->batch);
  });
  for (const ConfigData* c : rows) {
    const double gross = mean_of(*c, metric::kGrossJPerToken);
    const double net = mean_of(*c, metric::kNetJPerToken);
    const double idle = std::isfinite(net) ? 1 - net / gross : NAN;
    auto share = [](double v) {
      return std::isfinite(v) ? fmt::format("{:.1f} %", 100 * v) : "n/a";
    };
    out +=
        fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", c->format, c->batch, num(gross),
                    num(net), share(idle), share(c->prefill_share),
                    num(mean_of(*c, metric::kTokensPerSecond)), num(mean_of(*c, metric::kPowerW)));
  }
}

}  // namespace

std::string render_findings(const std::string& db) {
  auto st = open_study(db, "--db");
  Context x;
  x.configs = measured_configs(st);
  if (x.configs.empty())
    fail("--db {}: no finished configuration to report (run `ecocompute study run` first)", db);
  analysis::AnalyzeOptions o;
  o.baseline = "fp16";
  o.metric = metric::kJPerToken;
  x.analysis = analysis::analyze_study(x.configs, o);
  x.quality = quality_by_config(st);
  std::set<std::string> gpus;
  for (const auto& c : x.configs) gpus.insert(c.gpu);
  std::string out = fmt::format(
      "Generated by `ecocompute study findings` from {} ({} measured configurations on {}).\n", db,
      x.configs.size(), fmt::join(gpus, ", "));
  int8_default(out, x);
  thresholds(out, x);
  nf4_crossover(out, x);
  batch_law(out, x);
  energy_shares(out, x);
  return out;
}

}  // namespace eco::cli
