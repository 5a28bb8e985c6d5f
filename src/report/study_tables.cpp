// The parts of the dashboard document that come from tables a study may lack (quality scores,
// imported published results; added by later schema versions) and from power timelines.
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/error.h"
#include "report/study.h"
#include "store/reader.h"

namespace eco::report {

using nlohmann::json;

namespace {

json cell_json(const store::Cell& c) {
  if (const auto* i = std::get_if<int64_t>(&c)) return *i;
  if (const auto* d = std::get_if<double>(&c)) return std::isfinite(*d) ? json(*d) : json();
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  return nullptr;
}

json table_json(size_t db, const std::string& name, const store::Table& t) {
  json rows = json::array();
  for (const auto& r : t.rows) {
    json row = json::array();
    for (const auto& c : r) row.push_back(cell_json(c));
    rows.push_back(std::move(row));
  }
  return json{{"db", db}, {"table", name}, {"columns", t.columns}, {"rows", std::move(rows)}};
}

std::vector<std::string> user_tables(store::StudyReader& reader) {
  std::vector<std::string> names;
  for (const char* candidate : {"quality", "quality_scores", "quality_results", "published",
                                "published_results", "published_imports", "imports"})
    if (reader.has_table(candidate)) names.push_back(candidate);
  return names;
}

int column(const store::Table& t, std::string_view name) {
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i] == name) return int(i);
  return -1;
}

// Quality scores belong to a configuration (config_id) or to a model and format; each numeric
// column of a matching row is attached to the configuration as measured.
void attach_quality(size_t db, const store::Table& t, json& configs,
                    const std::map<int64_t, size_t>& config_index) {
  const int cfg = column(t, "config_id");
  const int model = column(t, "model_id"), format = column(t, "format_id");
  if (cfg < 0 && (model < 0 || format < 0)) return;
  for (const auto& row : t.rows) {
    json scores = json::object();
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const auto& name = t.columns[i];
      if (name == "id" || name.ends_with("_id")) continue;
      const json v = cell_json(row[i]);
      if (v.is_number() || v.is_string()) scores[name] = v;
    }
    auto attach = [&](json& c) {
      if (c["quality"].is_null()) c["quality"] = json::object();
      c["quality"].update(scores);
    };
    if (cfg >= 0) {
      const auto* id = std::get_if<int64_t>(&row[size_t(cfg)]);
      if (id && config_index.count(*id)) attach(configs[config_index.at(*id)]);
      continue;
    }
    const auto* m = std::get_if<int64_t>(&row[size_t(model)]);
    const auto* f = std::get_if<int64_t>(&row[size_t(format)]);
    if (!m || !f) continue;
    const std::string mk = fmt::format("{}:{}", db, *m);
    for (auto& [id, index] : config_index) {
      auto& c = configs[index];
      if (c["model_key"] == mk && c["format_id"] == *f) attach(c);
    }
  }
}

}  // namespace

void add_optional_tables(size_t db, store::StudyReader& reader, json& doc,
                         std::map<int64_t, size_t>& config_index) {
  for (const auto& name : user_tables(reader)) {
    const store::Table t = reader.table(name);
    if (name.starts_with("quality")) {
      attach_quality(db, t, doc["configs"], config_index);
      doc["quality_tables"].push_back(table_json(db, name, t));
    } else {
      doc["published"].push_back(table_json(db, name, t));
    }
  }
}

json timeline_json(const std::vector<store::TimelineSample>& samples, size_t max_points) {
  const size_t step =
      samples.size() > max_points ? (samples.size() + max_points - 1) / max_points : 1;
  json t = json::array(), w = json::array(), d = json::array();
  for (size_t i = 0; i < samples.size(); i += step) {
    t.push_back(samples[i].t);
    w.push_back(std::isfinite(samples[i].watts) ? json(samples[i].watts) : json());
    d.push_back(samples[i].device);
  }
  json out{{"t", std::move(t)}, {"w", std::move(w)}, {"device", std::move(d)}};
  if (step > 1) out["thinned"] = fmt::format("every {}th of {} samples", step, samples.size());
  return out;
}

void add_timelines(size_t db, store::StudyReader& reader, json& doc, json& db_info, size_t& budget,
                   const StudyOptions& options) {
  size_t left_out = 0;
  for (const auto& [run, samples] : reader.timelines()) {
    const size_t n = std::min(samples.size(), options.max_timeline_points_per_run);
    if (n > budget) {
      ++left_out;
      continue;
    }
    budget -= n;
    doc["timelines"][fmt::format("{}:{}", db, run)] =
        timeline_json(samples, options.max_timeline_points_per_run);
  }
  db_info["timelines"] = left_out ? "partial" : "all";
  if (left_out)
    db_info["timelines_note"] = fmt::format(
        "{} runs' power timelines were left out of this file to keep it small; `ecocompute serve` "
        "shows every one",
        left_out);
}

json run_timeline(const std::filesystem::path& database, int64_t run_id) {
  store::StudyReader reader(database);
  auto st = reader.timeline(run_id);
  if (st.empty()) {
    // An existing run without samples (no power sensor) is not an error; a missing run is.
    if (!reader.has_run(run_id)) fail("run {} is not in database '{}'", run_id, database.string());
  }
  return timeline_json(st, 20000);
}

}  // namespace eco::report
