#include "report/study.h"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "analysis/cost.h"
#include "analysis/stats.h"
#include "common/error.h"
#include "common/version.h"
#include "report/compare.h"
#include "store/reader.h"
#include "store/store.h"

namespace eco::report {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& config_metrics() {
  static const std::vector<std::string> m{
      "j_per_token",         "gross_j_per_token", "net_j_per_token", "j_per_request",
      "j_per_1k_tokens",     "decode_tok_s",      "prefill_tok_s",   "tok_s",
      "mean_power_w",        "peak_power_w",      "idle_power_w",    "seconds",
      "prefill_j_per_token", "decode_j_per_token"};
  return m;
}

namespace {

json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

std::string key(size_t db, int64_t id) {
  return fmt::format("{}:{}", db, id);
}

// The value of one of config_metrics() for a run; NaN when not measured.
double run_metric(const store::RunRecord& r, const std::string& m) {
  const double tokens = double(r.generated_tokens);
  if (m == "j_per_token") return r.j_per_token;
  if (m == "gross_j_per_token") return tokens > 0 ? r.gross_energy_j / tokens : NAN;
  if (m == "net_j_per_token") return tokens > 0 ? r.net_energy_j / tokens : NAN;
  if (m == "j_per_request") return r.j_per_request;
  if (m == "j_per_1k_tokens") return r.j_per_1k_tokens;
  if (m == "decode_tok_s") return r.decode_tok_s;
  if (m == "prefill_tok_s") return r.prefill_tok_s;
  if (m == "tok_s") return r.seconds > 0 ? tokens / r.seconds : NAN;
  if (m == "mean_power_w") return r.mean_power_w;
  if (m == "peak_power_w") return r.peak_power_w;
  if (m == "idle_power_w") return r.idle_power_w;
  if (m == "seconds") return r.seconds;
  if (m == "prefill_j_per_token") return r.prefill_j_per_token;
  if (m == "decode_j_per_token") return r.decode_j_per_token;
  fail("internal: unknown dashboard metric '{}'", m);
}

json summary(const std::vector<double>& xs) {
  if (xs.empty()) return json{{"n", 0}};
  const auto s = analysis::summarize(xs);
  return json{{"n", s.n},
              {"mean", number(s.mean)},
              {"sd", number(s.sd)},
              {"ci_low", number(s.ci_low)},
              {"ci_high", number(s.ci_high)}};
}

// Repetitions of a phase's window, from its "k=N" flag (1 without one).
int repetitions(const std::string& flags) {
  const auto pos = flags.find("k=");
  if (pos == std::string::npos) return 1;
  try {
    return std::max(1, std::stoi(flags.substr(pos + 2)));
  } catch (const std::exception&) {
    return 1;
  }
}

// Where the run's windows lie on its timeline (seconds from its start), from the phases'
// durations: prefill then decode when each had its own window, else the prefill window then the
// whole-run window that decode was derived from.
json run_windows(const store::RunRecord& r) {
  const store::PhaseRecord *pre = nullptr, *dec = nullptr, *tot = nullptr;
  for (const auto& p : r.phases) {
    if (p.name == "prefill") pre = &p;
    if (p.name == "decode") dec = &p;
    if (p.name == "total") tot = &p;
  }
  // [name, start, end] triples: a 10k-run report carries one per window.
  json w = json::array();
  if (!pre) return w;
  const double pre_s = pre->seconds * repetitions(pre->flags);
  w.push_back({"prefill", 0.0, pre_s});
  const bool derived = r.k > 1 || (tot && repetitions(tot->flags) > 1);
  if (!derived && dec) {
    w.push_back({"decode", pre_s, pre_s + dec->seconds});
  } else if (tot) {
    const int k_total = repetitions(tot->flags);
    w.push_back(
        {fmt::format("prefill + decode x{}", k_total), pre_s, pre_s + tot->seconds * k_total});
  }
  return w;
}

// Runs as columns (one array per field): a tenth of the size of one object per run.
struct Columns {
  json doc = json::object();
  Columns() {
    for (const char* name :
         {"key", "config", "round", "index", "warmup", "k", "batch", "generated_tokens",
          "gross_energy_j", "net_energy_j", "temp_start_c", "temp_end_c", "flags", "windows"})
      doc[name] = json::array();
    for (const auto& m : config_metrics()) doc[m] = json::array();
  }
  void add(const char* name, json v) { doc[name].push_back(std::move(v)); }
};

struct DbContext {
  size_t index;
  store::StudyReader& reader;
  json& doc;
  std::vector<ConfigSamples>& samples;
  size_t& timeline_budget;
  const StudyOptions& options;
};

json session_json(size_t db, const store::SessionRow& row) {
  const auto& s = row.session;
  return json{{"key", key(db, row.id)},
              {"db", db},
              {"id", row.id},
              {"started_at", s.started_at},
              {"command", s.command},
              {"hostname", s.hostname},
              {"os", s.os},
              {"cpu", s.cpu},
              {"gpu_name", s.gpu_name},
              {"gpu_uuid", s.gpu_uuid},
              {"gpu_driver", s.gpu_driver},
              {"gpu_power_limit_w", number(s.gpu_power_limit_w)},
              {"cuda_version", s.cuda_version},
              {"cublas_version", s.cublas_version},
              {"eco_version", s.eco_version},
              {"eco_git_commit", s.eco_git_commit},
              {"meter", s.meter}};
}

json model_json(size_t db, const store::ModelRow& row) {
  const auto& m = row.model;
  return json{{"key", key(db, row.id)},
              {"source", m.source},
              {"synthetic_shape", m.synthetic_shape},
              {"synthetic_seed", m.synthetic_seed ? json(*m.synthetic_seed) : json(nullptr)},
              {"config_json", m.config_json},
              {"weights_sha256_json", m.weights_sha256_json},
              {"parameter_count", m.parameter_count}};
}

// The measured runs of the configuration's last round (warm-ups and the runs the protocol set
// aside excluded).
std::vector<const store::RunRecord*> measured(const std::vector<const store::RunRecord*>& runs) {
  int last = -1;
  for (const auto* r : runs)
    if (!r->warmup) last = std::max(last, r->round);
  std::vector<const store::RunRecord*> out;
  for (const auto* r : runs)
    if (!r->warmup && r->round == last && !store::set_aside(*r)) out.push_back(r);
  return out;
}

void add_runs(DbContext& c, const std::vector<store::RunRecord>& runs, Columns& cols) {
  for (const auto& r : runs) {
    cols.add("key", key(c.index, r.id));
    cols.add("config", key(c.index, r.config_id));
    cols.add("round", r.round);
    cols.add("index", r.index);
    cols.add("warmup", r.warmup);
    cols.add("k", r.k);
    cols.add("batch", r.batch);
    cols.add("generated_tokens", r.generated_tokens);
    for (const auto& m : config_metrics()) cols.add(m.c_str(), number(run_metric(r, m)));
    cols.add("gross_energy_j", number(r.gross_energy_j));
    cols.add("net_energy_j", number(r.net_energy_j));
    cols.add("temp_start_c", number(r.temp_start_c));
    cols.add("temp_end_c", number(r.temp_end_c));
    cols.add("flags", r.flags);
    cols.add("windows", run_windows(r));
  }
}

}  // namespace

// Defined in study_tables.cpp: the optional tables and the timelines.
void add_optional_tables(size_t db, store::StudyReader& reader, json& doc);
void add_timelines(size_t db, store::StudyReader& reader, json& doc, json& db_info, size_t& budget,
                   const StudyOptions& options);

namespace {

// A configuration as the dashboard shows it, with its metrics over the measured runs.
json config_json(size_t db, const store::ConfigRow& row, const store::ModelRecord& model,
                 const store::FormatRecord& format, const std::string& gpu,
                 const std::vector<const store::RunRecord*>& chosen) {
  const auto& cfg = row.config;
  json j{{"key", key(db, cfg.id)},
         {"db", db},
         {"id", cfg.id},
         {"model", model.source},
         {"model_key", key(db, cfg.key.model_id)},
         {"format", format.name},
         {"format_id", cfg.key.format_id},
         {"format_params", format.params_json},
         {"batch", cfg.key.batch},
         {"prompt_len", cfg.key.prompt_len},
         {"gen_len", cfg.key.gen_len},
         {"device", cfg.key.device},
         {"gpu", gpu},
         {"session", row.session_id ? json(key(db, *row.session_id)) : json(nullptr)},
         {"engine", cfg.engine},
         {"status", std::string(store::to_string(cfg.status))},
         {"gate", std::string(store::to_string(cfg.gate))},
         {"gate_json", cfg.gate_json},
         {"rounds", cfg.rounds},
         {"error", cfg.error},
         {"energy_note", cfg.energy_note},
         {"protocol_json", cfg.protocol_json},
         {"started_at", row.started_at},
         {"finished_at", row.finished_at},
         {"quality", nullptr},
         {"n", chosen.size()}};
  json metrics = json::object();
  for (const auto& m : config_metrics()) {
    std::vector<double> xs;
    for (const auto* r : chosen)
      if (const double v = run_metric(*r, m); std::isfinite(v)) xs.push_back(v);
    metrics[m] = summary(xs);
  }
  j["metrics"] = std::move(metrics);
  return j;
}

// What compare.cpp needs of a configuration: its groups and its measured runs' values.
ConfigSamples config_samples(const std::string& config_key, const store::ConfigKey& k,
                             const store::ModelRecord& model, const store::FormatRecord& format,
                             const std::string& gpu,
                             const std::vector<const store::RunRecord*>& chosen) {
  ConfigSamples s;
  s.key = config_key;
  const std::string where =
      fmt::format("{}|{}|{}|{}|{}|{}", model.source, model.weights_sha256_json, k.prompt_len,
                  k.gen_len, k.device, gpu);
  s.group = fmt::format("{}|{}", where, k.batch);
  s.fit_group = fmt::format("{}|{}|{}", where, format.name, format.params_json);
  s.format = format.name;
  s.batch = k.batch;
  for (const auto* r : chosen) {
    if (!std::isfinite(r->j_per_token)) continue;
    s.j_per_token.push_back(r->j_per_token);
    s.run_energy_j.push_back(r->j_per_token * double(r->generated_tokens));
    s.run_seconds.push_back(r->seconds);
    if (r->j_per_request > 0) s.j_per_request.push_back(r->j_per_request);
  }
  return s;
}

void add_events_and_failures(DbContext& c) {
  const size_t db = c.index;
  auto opt_key = [db](const std::optional<int64_t>& id) {
    return id ? json(key(db, *id)) : json();
  };
  for (const auto& e : c.reader.events())
    c.doc["events"].push_back({{"db", db},
                               {"config", opt_key(e.config_id)},
                               {"session", opt_key(e.session_id)},
                               {"step", e.step},
                               {"at", e.at},
                               {"seconds", number(e.seconds)},
                               {"outcome", e.outcome},
                               {"details_json", e.details_json}});
  for (const auto& f : c.reader.failures())
    c.doc["failures"].push_back(
        {{"config", opt_key(f.config_id)}, {"at", f.at}, {"stage", f.stage}, {"error", f.error}});
}

void add_database(DbContext& c, Columns& run_cols) {
  auto& reader = c.reader;
  json db_info{{"index", c.index},
               {"path", reader.path().string()},
               {"schema_version", reader.schema_version()}};
  std::map<int64_t, store::Session> sessions;
  for (const auto& s : reader.sessions()) {
    sessions[s.id] = s.session;
    c.doc["sessions"].push_back(session_json(c.index, s));
  }
  std::map<int64_t, store::ModelRecord> models;
  for (const auto& m : reader.models()) {
    models[m.id] = m.model;
    c.doc["models"].push_back(model_json(c.index, m));
  }
  std::map<int64_t, store::FormatRecord> formats;
  for (const auto& f : reader.formats()) formats[f.id] = f.format;

  const auto runs = reader.runs();
  std::map<int64_t, std::vector<const store::RunRecord*>> by_config;
  for (const auto& r : runs) by_config[r.config_id].push_back(&r);
  add_runs(c, runs, run_cols);

  for (const auto& row : reader.configs()) {
    const auto& k = row.config.key;
    const auto session = row.session_id ? sessions.find(*row.session_id) : sessions.end();
    const std::string gpu = session != sessions.end() ? session->second.gpu_name : "";
    const auto chosen = measured(by_config[row.config.id]);
    json j = config_json(c.index, row, models[k.model_id], formats[k.format_id], gpu, chosen);
    c.samples.push_back(
        config_samples(j["key"], k, models[k.model_id], formats[k.format_id], gpu, chosen));
    c.doc["configs"].push_back(std::move(j));
  }
  add_events_and_failures(c);
  add_optional_tables(c.index, reader, c.doc);
  if (c.options.include_timelines)
    add_timelines(c.index, reader, c.doc, db_info, c.timeline_budget, c.options);
  else
    db_info["timelines"] = "on-request";
  c.doc["databases"].push_back(std::move(db_info));
}

// What the dashboard's cost and carbon columns start from: analysis/'s default price and PUE
// (stated there as illustrative) and its bundled grid table, which the reader picks from.
json cost_defaults() {
  const analysis::CostInputs in;
  json grid = json::array();
  for (const auto& g : analysis::grid_intensities())
    grid.push_back({{"region", g.region},
                    {"name", g.name},
                    {"g_per_kwh", g.g_co2e_per_kwh},
                    {"year", g.year}});
  return json{{"usd_per_kwh", in.usd_per_kwh},
              {"pue", in.pue},
              {"grid_region", "WORLD"},
              {"grid", std::move(grid)},
              {"grid_source",
               "Ember, Yearly Electricity Data 2023, via Our World in Data "
               "(data/grid_carbon_intensity.csv)"}};
}

}  // namespace

json build_study(const std::vector<fs::path>& databases, const StudyOptions& options) {
  json doc{{"format", "ecocompute-dashboard/1"},
           {"generated_at", store::utc_now()},
           {"generator", {{"version", eco::version()}, {"commit", eco::git_commit()}}},
           {"metrics", config_metrics()}};
  for (const char* k :
       {"databases", "sessions", "models", "configs", "events", "failures", "published"})
    doc[k] = json::array();
  doc["timelines"] = json::object();
  // Open every file before reading any, so one bad --db is reported before work is done.
  std::vector<std::unique_ptr<store::StudyReader>> readers;
  for (const auto& p : databases) readers.push_back(std::make_unique<store::StudyReader>(p));
  std::vector<ConfigSamples> samples;
  Columns run_cols;
  size_t budget = options.max_timeline_points_total;
  for (size_t i = 0; i < readers.size(); ++i) {
    DbContext c{i, *readers[i], doc, samples, budget, options};
    add_database(c, run_cols);
  }
  doc["run_count"] = run_cols.doc["key"].size();
  doc["runs"] = std::move(run_cols.doc);
  doc["cost"] = cost_defaults();
  doc["comparisons"] = format_comparisons(samples);
  doc["fits"] = batch_fits(samples);
  return doc;
}

}  // namespace eco::report
