// The parts of the dashboard document that come from tables a study may lack (quality scores,
// imported published results; added by later schema versions) and from power timelines.
#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "analysis/published.h"
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

int column(const store::Table& t, std::string_view name) {
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i] == name) return int(i);
  return -1;
}

// The scores of `ecocompute quality` shown beside energy (their standard errors ride along).
constexpr std::string_view kQualityColumns[] = {
    "ppl",     "ppl_err",     "kld",          "kld_err",       "same_top1",   "same_top1_err",
    "delta_p", "delta_p_err", "ln_ppl_ratio", "tokens_scored", "text_source", "device"};

// Quality scores belong to a model and a format (not to a batch size), so every configuration of
// that model and format gets them; of several scorings the latest is shown.
void attach_quality(size_t db, const store::Table& t, json& configs,
                    const std::map<int64_t, std::string>& format_names) {
  const int model = column(t, "model_id"), format = column(t, "format_id");
  const int base = column(t, "base_format_id");
  if (model < 0 || format < 0) return;
  for (const auto& row : t.rows) {
    const auto* m = std::get_if<int64_t>(&row[size_t(model)]);
    const auto* f = std::get_if<int64_t>(&row[size_t(format)]);
    if (!m || !f) continue;
    json scores = json::object();
    for (const auto name : kQualityColumns)
      if (const int i = column(t, name); i >= 0)
        scores[std::string(name)] = cell_json(row[size_t(i)]);
    if (base >= 0)
      if (const auto* b = std::get_if<int64_t>(&row[size_t(base)]); b && format_names.count(*b))
        scores["base_format"] = format_names.at(*b);
    const std::string mk = fmt::format("{}:{}", db, *m);
    for (auto& c : configs)
      if (c["model_key"] == mk && c["format_id"] == *f) c["quality"] = scores;
  }
}

store::Cell csv_cell(const std::string& f) {
  if (f.empty()) return std::monostate{};
  char* stop = nullptr;
  const double v = std::strtod(f.c_str(), &stop);
  if (stop && *stop == '\0' && std::isfinite(v)) return v;
  return f;
}

// A CSV text as `ecocompute import` stores it: '#' lines are comments, the first other line the
// header; quoted fields as in RFC 4180. Numbers become numbers, empty cells null.
store::Table parse_csv(const std::string& text) {
  store::Table t;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, started = false;
  auto end_row = [&] {
    fields.push_back(field);
    field.clear();
    if (t.columns.empty()) {
      t.columns = fields;
    } else {
      std::vector<store::Cell> row;
      for (const auto& f : fields) row.push_back(csv_cell(f));
      t.rows.push_back(std::move(row));
    }
    fields.clear();
    started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!started && c == '#') {  // a comment line
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = started = true;
    } else if (c == ',') {
      fields.push_back(field);
      field.clear();
      started = true;
    } else if (c == '\n' || c == '\r') {
      if (started) end_row();
    } else {
      field += c;
      started = true;
    }
  }
  if (started) end_row();
  return t;
}

// The published rows through analysis/'s parser and checks (energy against power and throughput
// within the printed rounding, throughput against model size, CVs above the study's gate), and
// the study's claims against its own table when the import carried them.
json published_json(size_t db, const std::string& file, const std::string& csv,
                    const std::string& claims_file, const std::string& claims_text) {
  json t{{"db", db}, {"table", file}};
  std::vector<analysis::PublishedRow> rows;
  try {
    rows = analysis::parse_published_csv(csv, file);
  } catch (const Error& e) {
    // Shown as stored, with the reason it could not be checked.
    json raw = table_json(db, file, parse_csv(csv));
    raw["error"] = e.what();
    return raw;
  }
  std::map<int, json> findings;
  for (const auto& f : analysis::check_published(rows))
    findings[f.line].push_back(
        fmt::format("{} ({}): {}", f.kind, analysis::to_string(f.severity), f.message));
  t["columns"] = {"line",
                  "gpu",
                  "model",
                  "format",
                  "llm_int8_threshold",
                  "batch_size",
                  "new_tokens",
                  "n_runs",
                  "throughput_tok_s",
                  "power_w",
                  "energy_j_per_1k_tok",
                  "idle_subtracted",
                  "source",
                  "notes",
                  "findings"};
  auto printed = [](const analysis::Printed& p) { return p.known() ? json(p.value) : json(); };
  json out = json::array();
  for (const auto& r : rows)
    out.push_back({r.line, r.gpu, r.model, r.format,
                   std::isnan(r.int8_threshold) ? json() : json(r.int8_threshold), r.batch,
                   r.new_tokens, r.n_runs, printed(r.throughput), printed(r.power),
                   printed(r.energy_per_1k), r.idle_subtracted ? "yes" : "no", r.source, r.notes,
                   findings.count(r.line) ? findings[r.line] : json::array()});
  t["rows"] = std::move(out);
  json claims = json::array();
  if (!claims_text.empty()) {
    try {
      const auto parsed = analysis::parse_claims_csv(claims_text, claims_file);
      for (const auto& c : analysis::check_claims(rows, parsed))
        claims.push_back({{"id", c.claim->id},
                          {"statement", c.claim->statement},
                          {"consistent", c.consistent},
                          {"message", c.message}});
    } catch (const Error& e) {
      t["claims_error"] = e.what();
    }
  }
  t["claims"] = std::move(claims);
  return t;
}

void add_published(size_t db, const store::Table& imports, json& doc) {
  const int file = column(imports, "file"), csv = column(imports, "csv_text");
  const int sha = column(imports, "sha256"), at = column(imports, "imported_at");
  const int claims_file = column(imports, "claims_file"), claims = column(imports, "claims_text");
  if (file < 0 || csv < 0) return;
  auto text = [&](const std::vector<store::Cell>& row, int i) {
    const auto* v = i >= 0 ? std::get_if<std::string>(&row[size_t(i)]) : nullptr;
    return v ? *v : std::string();
  };
  for (const auto& row : imports.rows) {
    json t = published_json(db, text(row, file), text(row, csv), text(row, claims_file),
                            text(row, claims));
    if (sha >= 0) t["sha256"] = cell_json(row[size_t(sha)]);
    if (at >= 0) t["imported_at"] = cell_json(row[size_t(at)]);
    doc["published"].push_back(std::move(t));
  }
}

}  // namespace

void add_optional_tables(size_t db, store::StudyReader& reader, json& doc) {
  if (reader.has_table("quality_scores")) {
    std::map<int64_t, std::string> names;
    for (const auto& f : reader.formats()) names[f.id] = f.format.name;
    attach_quality(db, reader.table("quality_scores"), doc["configs"], names);
  }
  if (reader.has_table("published_imports"))
    add_published(db, reader.table("published_imports"), doc);
}

json timeline_json(const std::vector<store::TimelineSample>& samples, size_t max_points) {
  const size_t step =
      samples.size() > max_points ? (samples.size() + max_points - 1) / max_points : 1;
  json t = json::array(), w = json::array(), d = json::array();
  bool one_device = true;
  for (size_t i = 0; i < samples.size(); i += step) {
    t.push_back(samples[i].t);
    w.push_back(std::isfinite(samples[i].watts) ? json(samples[i].watts) : json());
    d.push_back(samples[i].device);
    one_device = one_device && samples[i].device == samples.front().device;
  }
  // One device (the usual case): its index once instead of per sample.
  json out{{"t", std::move(t)}, {"w", std::move(w)}};
  out["device"] = one_device && !samples.empty() ? json(samples.front().device) : std::move(d);
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
