#include "cli/study_input.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/explain.h"
#include "common/error.h"

namespace eco::cli {

namespace {

using analysis::ConfigData;
using analysis::Sample;
namespace metric = analysis::metric;

std::string view_format_label(const store::ConfigView& v) {
  return format_label(v.format_name, v.format_params);
}

std::string model_name(const store::ConfigView& v) {
  if (v.model_source.rfind("synthetic:", 0) == 0) return v.model_source;
  const std::filesystem::path p(v.model_source);
  return p.has_filename() ? p.filename().string() : p.parent_path().filename().string();
}

void add(ConfigData& c, const char* name, std::vector<double> values) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](double x) { return !std::isfinite(x); }),
      values.end());
  if (values.empty()) return;
  Sample s;
  s.moments = analysis::moments(values);
  s.runs = std::move(values);
  c.metrics[name] = std::move(s);
}

void fill_metrics(ConfigData& c, const std::vector<store::RunRecord>& runs) {
  std::map<std::string, std::vector<double>> v;
  std::vector<double> prefill_j, decode_j;
  for (const auto& r : runs) {
    const double tokens = double(r.generated_tokens);
    if (tokens <= 0 || r.seconds <= 0) continue;
    v[metric::kJPerToken].push_back(r.j_per_token);
    v[metric::kGrossJPerToken].push_back(r.gross_energy_j / tokens);
    v[metric::kNetJPerToken].push_back(r.net_energy_j / tokens);
    v[metric::kSecondsPerToken].push_back(r.seconds / tokens);
    v[metric::kTokensPerSecond].push_back(tokens / r.seconds);
    v[metric::kPowerW].push_back(r.mean_power_w);
    v[metric::kJPerRequest].push_back(r.j_per_request);
    v[metric::kPrefillJPerToken].push_back(r.prefill_j_per_token);
    v[metric::kDecodeJPerToken].push_back(r.decode_j_per_token);
    double pj = NAN, dj = NAN;
    for (const auto& p : r.phases) {
      const double e = std::isfinite(p.net_energy_j) ? p.net_energy_j : p.gross_energy_j;
      if (p.name == "prefill") pj = e;
      if (p.name == "decode") dj = e;
    }
    prefill_j.push_back(pj);
    decode_j.push_back(dj);
  }
  for (auto& [name, values] : v) add(c, name.c_str(), std::move(values));
  c.prefill_share = analysis::prefill_share(prefill_j, decode_j);
}

}  // namespace

std::string format_label(const std::string& name, const std::string& params_json) {
  const auto j = nlohmann::json::parse(params_json, nullptr, false);
  if (j.is_object() && j.contains("threshold") && j["threshold"].is_number()) {
    std::string label = fmt::format("{}(t={:g}", name, j["threshold"].get<double>());
    if (j.contains("impl") && j["impl"].is_string()) label += "," + j["impl"].get<std::string>();
    return label + ")";
  }
  return name;
}

store::Store open_study(const std::string& path, const char* option) {
  try {
    return store::Store::open_read_only(path);
  } catch (const Error& e) {
    fail("{} {}: {}", option, path, e.what());
  }
}

std::vector<ConfigData> measured_configs(store::Store& st) {
  std::map<std::pair<int64_t, int64_t>, double> kld;
  for (const auto& q : st.quality_views()) kld[{q.model_id, q.format_id}] = q.kld;
  std::vector<ConfigData> out;
  for (const auto& v : st.config_views()) {
    if (v.status != store::ConfigStatus::Done) continue;
    ConfigData c;
    c.source = "measured";
    c.model = model_name(v);
    c.model_key =
        v.model_weights.empty() || v.model_weights == "{}" ? v.model_source : v.model_weights;
    c.format = view_format_label(v);
    c.gpu = v.gpu_name.empty() ? v.device : v.gpu_name;
    c.device = c.gpu;
    c.params_b = v.parameter_count > 0 ? double(v.parameter_count) / 1e9 : NAN;
    c.batch = v.batch;
    c.prompt_len = v.prompt_len;
    c.gen_len = v.gen_len;
    c.gate = v.gate;
    c.label = fmt::format("{} / {} / bs {} / {}+{} / {}", c.model, c.format, c.batch, c.prompt_len,
                          c.gen_len, c.gpu);
    auto runs = st.runs(v.id, true);
    int last = 0;
    for (const auto& r : runs)
      if (!r.warmup) last = std::max(last, r.round);
    std::erase_if(runs, [&](const store::RunRecord& r) {
      return r.warmup || r.round != last || store::set_aside(r);
    });
    fill_metrics(c, runs);
    if (const auto it = kld.find({v.model_id, v.format_id}); it != kld.end()) c.kld = it->second;
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

Sample moments_only(double mean, double sd, int n) {
  Sample s;
  s.moments = {size_t(n), mean, sd};  // sd NaN: no spread published
  return s;
}

ConfigData from_row(const analysis::PublishedRow& r, const std::string& source) {
  ConfigData c;
  c.source = source;
  c.model = r.model;
  c.model_key = r.model;
  c.format = r.format_label();
  c.gpu = c.device = r.gpu;
  c.params_b = r.params_b;
  c.batch = r.batch;
  c.gen_len = r.new_tokens;
  c.gate = "published";
  c.label =
      fmt::format("{} / {} / bs {} / {} new / {}", r.model, c.format, r.batch, r.new_tokens, r.gpu);
  const double t = r.throughput.value, p = r.power.value, e = r.energy_per_1k.value / 1000;
  const int n = r.n_runs;
  c.metrics[metric::kJPerToken] = moments_only(e, r.energy_sd.value / 1000, n);
  c.metrics[metric::kGrossJPerToken] = moments_only(p / t, NAN, n);
  if (r.idle_w.known())
    c.metrics[metric::kNetJPerToken] = moments_only((p - r.idle_w.value) / t, NAN, n);
  c.metrics[metric::kSecondsPerToken] = moments_only(1 / t, NAN, n);
  c.metrics[metric::kTokensPerSecond] = moments_only(t, r.throughput_sd.value, n);
  c.metrics[metric::kPowerW] = moments_only(p, r.power_sd.value, n);
  // Each request generates `new_tokens` tokens, so J/request = J/token x new_tokens.
  c.metrics[metric::kJPerRequest] =
      moments_only(e * r.new_tokens, r.energy_sd.value / 1000 * r.new_tokens, n);
  return c;
}

}  // namespace

std::vector<PublishedSet> published_sets(store::Store& st) {
  std::vector<PublishedSet> out;
  for (auto& imp : st.published()) {
    PublishedSet s;
    s.source = fmt::format("published: {} (sha256 {}...)", imp.file, imp.sha256.substr(0, 12));
    s.rows = analysis::parse_published_csv(imp.csv_text, imp.file);
    if (!imp.claims_text.empty())
      s.claims = analysis::parse_claims_csv(imp.claims_text, imp.claims_file);
    for (const auto& r : s.rows) s.configs.push_back(from_row(r, s.source));
    s.import = std::move(imp);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace eco::cli
