// The Markdown form of `analyze`'s JSON document.
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/analysis_json.h"

namespace eco::cli {

using nlohmann::json;

std::string num(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  // Whole numbers past `digits` significant digits print in full (15550, not 1.555e+04):
  // tables are read by people. Small values (p-values, KL divergences) keep the exponent.
  if (std::fabs(v) >= std::pow(10.0, digits) && std::fabs(v) < 1e15)
    return fmt::format("{:.0f}", v);
  return fmt::format("{:.{}g}", v, digits);
}

std::string num(const json& v, int digits) {
  return v.is_number() ? num(v.get<double>(), digits) : "n/a";
}

namespace {

std::string pct(const json& v) {
  return v.is_number() ? fmt::format("{:+.1f} %", v.get<double>()) : "n/a";
}

std::string unit_of(const std::string& metric) {
  if (metric == "j_per_request") return "J/request";
  if (metric == "s_per_token") return "s/token";
  if (metric == "tok_s") return "tokens/s";
  if (metric == "power_w") return "W";
  return "J/token";
}

void configurations(std::string& out, const json& src, const std::string& metric) {
  out += fmt::format(
      "\n### Configurations ({} as mean, sd, CV and 95 % CI; Student t over runs)\n\n"
      "| configuration | n | mean | sd | CV | 95 % CI | tokens/s | W | prefill share | KL div. "
      "(nats/token) | gate |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
      unit_of(metric));
  for (const auto& c : src["configurations"]) {
    const json m = c["metrics"].value(metric, json::object());
    const json tps = c["metrics"].value("tok_s", json::object());
    const json w = c["metrics"].value("power_w", json::object());
    std::string ci = m.contains("ci95")
                         ? fmt::format("{} to {}", num(m["ci95"][0]), num(m["ci95"][1]))
                         : "no spread known";
    if (m.contains("bootstrap_ci95"))
      ci += fmt::format(" (bootstrap {} to {})", num(m["bootstrap_ci95"][0]),
                        num(m["bootstrap_ci95"][1]));
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c["label"].get<std::string>(),
        m.value("n", 0), num(m.value("mean", json())), num(m.value("sd", json())),
        m.contains("cv") ? fmt::format("{:.2f} %", 100 * m["cv"].get<double>()) : "n/a", ci,
        num(tps.value("mean", json())), num(w.value("mean", json())),
        c["prefill_share"].is_number()
            ? fmt::format("{:.1f} %", 100 * c["prefill_share"].get<double>())
            : "n/a",
        num(c["kld"]), c["gate"].get<std::string>());
  }
}

std::string split_text(const json& s) {
  if (!s.is_object()) return "n/a";
  return fmt::format("{} = {} time x {} power", num(s["energy_ratio"], 3), num(s["time_ratio"], 3),
                     num(s["power_ratio"], 3));
}

void comparisons(std::string& out, const json& src) {
  if (src["comparisons"].empty()) return;
  out +=
      "\n### Against the baseline\n\nDelta is (config - baseline) / baseline; its CI is "
      "Welch's CI of the difference over the baseline mean; p is Welch's two-sided test, "
      "Holm-adjusted over every test in this section. The energy ratio per token is split into "
      "time x power, gross (as metered) and net (idle power removed).\n\n"
      "| configuration | baseline | delta | 95 % CI | p | p (Holm) | Hedges g | gross: energy = "
      "time x power | net: energy = time x power |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : src["comparisons"]) {
    const bool t = c["testable"].get<bool>();
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c["config"].get<std::string>(),
        c["baseline"].get<std::string>(), pct(c["delta_pct"]),
        t ? fmt::format("{} to {}", pct(c["delta_pct_ci95"][0]), pct(c["delta_pct_ci95"][1]))
          : "no spread known",
        t ? num(c["p"], 2) : "n/a", t ? num(c["p_holm"], 2) : "n/a",
        t ? num(c["hedges_g"], 3) : "n/a", split_text(c.value("split_gross", json())),
        split_text(c.value("split_net", json())));
  }
}

void batch_laws(std::string& out, const json& src) {
  if (src["batch_laws"].empty()) return;
  out +=
      "\n### Batch-size law: E = C x B^-alpha\n\nFitted by least squares on ln E against ln "
      "B (every run a point); alpha's 95 % CI is Student t with n - 2 df. Beyond the reported "
      "batch size, doubling the batch saves less than the threshold times E(1).\n\n"
      "| series | metric | batches | C | alpha | 95 % CI | R^2 | returns below threshold "
      "beyond B |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& l : src["batch_laws"]) {
    std::vector<int> b = l["batches"].get<std::vector<int>>();
    const std::string returns =
        l["saves"].get<bool>()
            ? fmt::format("{} ({} to {}; {:g} %)", num(l["returns_batch"], 3),
                          num(l["returns_batch_range"][0], 3), num(l["returns_batch_range"][1], 3),
                          100 * l["threshold"].get<double>())
            : "batching saves nothing";
    out +=
        fmt::format("| {} | {} | {} | {} | {} | {} to {} | {} | {} |\n",
                    l["series"].get<std::string>(), unit_of(l["metric"].get<std::string>()),
                    fmt::join(b, ", "), num(l["C"]), num(l["alpha"], 3), num(l["alpha_ci95"][0], 3),
                    num(l["alpha_ci95"][1], 3), num(l["r_squared"], 4), returns);
  }
}

void crossovers(std::string& out, const json& src) {
  if (src["crossovers"].empty()) return;
  out +=
      "\n### Crossovers along model size\n\nRatio of the format's energy per token to the "
      "baseline's at each size; the crossover is where the ratio reaches 1 (interpolated in "
      "log size and log ratio), its 95 % interval from resampling every mean within its "
      "standard error.\n\n| series | format vs baseline | sizes (B): ratio | crossover | 95 % "
      "interval |\n|---|---|---|---|---|\n";
  for (const auto& x : src["crossovers"]) {
    std::string pts;
    for (size_t i = 0; i < x["sizes_b"].size(); ++i)
      pts +=
          fmt::format("{}{}: {}", i ? ", " : "", num(x["sizes_b"][i], 3), num(x["ratios"][i], 3));
    const bool found = x["found"].get<bool>();
    const std::string where =
        found ? fmt::format("{} B ({})", num(x["params_b"], 3),
                            x["direction"].get<int>() > 0 ? "costs below, saves above"
                                                          : "saves below, costs above")
              : "none in this range";
    out += fmt::format(
        "| {} | {} vs {} | {} | {} | {} |\n", x["series"].get<std::string>(),
        x["format"].get<std::string>(), x["baseline"].get<std::string>(), pts, where,
        found ? fmt::format("{} to {} B", num(x["ci95"][0], 3), num(x["ci95"][1], 3)) : "n/a");
  }
}

void pareto(std::string& out, const json& src) {
  out += "\n### Pareto front: energy per token vs KL divergence\n\n";
  if (src["pareto"].empty()) {
    out += "No quality scores in this source (run `ecocompute quality` on the same study).\n";
    return;
  }
  for (const auto& g : src["pareto"])
    out += fmt::format("- {}: front {} (of {} scored)\n", g["group"].get<std::string>(),
                       fmt::join(g["front"].get<std::vector<std::string>>(), "; "),
                       g["points"].size());
}

void costs(std::string& out, const json& src) {
  out +=
      "\n### Cost and carbon (from the mean J/token)\n\n| configuration | kWh / 1M tokens | $ "
      "energy / 1M tokens | gCO2e / 1k tokens | $ GPU time / 1M tokens |\n|---|---|---|---|---|\n";
  for (const auto& c : src["configurations"]) {
    if (!c.contains("cost")) continue;
    const json& k = c["cost"];
    out += fmt::format("| {} | {} | {} | {} | {} |\n", c["label"].get<std::string>(),
                       num(k["kwh_per_1m_tokens"]), num(k["usd_energy_per_1m_tokens"]),
                       num(k["g_co2e_per_1k_tokens"]), num(k["usd_gpu_per_1m_tokens"]));
  }
}

void checks(std::string& out, const json& src) {
  if (!src.contains("checks")) return;
  const json& c = src["checks"];
  out += fmt::format("\n### Internal consistency of the published table ({} findings)\n\n",
                     c["findings"].size());
  for (const auto& f : c["findings"])
    out += fmt::format("- [{}] {} (line {}): {}\n", f["severity"].get<std::string>(),
                       f["kind"].get<std::string>(), f["line"].get<int>(),
                       f["message"].get<std::string>());
  if (c["claims"].empty()) return;
  out += "\n### The study's claims against its own table\n\n";
  for (const auto& x : c["claims"])
    out += fmt::format("- {} \"{}\": {}\n", x["id"].get<std::string>(),
                       x["statement"].get<std::string>(), x["message"].get<std::string>());
}

}  // namespace

std::string render_analysis_markdown(const json& doc) {
  std::string out =
      fmt::format("# Analysis of {}\n\nMetric compared: {} ({}); baseline: {}.\n",
                  doc["database"].get<std::string>(), doc["metric"].get<std::string>(),
                  unit_of(doc["metric"].get<std::string>()), doc["baseline"].get<std::string>());
  out += fmt::format("Cost and carbon inputs: {}. Formulas:\n\n",
                     doc["cost_defaults"].get<std::string>());
  for (const auto& f : doc["cost_formulas"]) out += fmt::format("- {}\n", f.get<std::string>());
  for (const auto& src : doc["sources"]) {
    out += fmt::format("\n## Source: {}\n", src["source"].get<std::string>());
    if (src.contains("imported_at"))
      out += fmt::format(
          "\nImported {}; published means, not measured here: never pooled with "
          "measured runs.\n",
          src["imported_at"].get<std::string>());
    configurations(
        out, src,
        doc["metric"].get<std::string>() == "decode_j_per_token" && src.contains("checks")
            ? "j_per_token"
            : doc["metric"].get<std::string>());
    comparisons(out, src);
    batch_laws(out, src);
    crossovers(out, src);
    pareto(out, src);
    costs(out, src);
    checks(out, src);
  }
  return out;
}

}  // namespace eco::cli
