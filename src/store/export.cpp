#include "store/export.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::store {

ExportFormat parse_export_format(std::string_view name) {
  if (name == "csv") return ExportFormat::Csv;
  if (name == "json") return ExportFormat::Json;
  if (name == "jsonl") return ExportFormat::Jsonl;
  if (name == "md") return ExportFormat::Md;
  fail("unknown output format '{}': use csv, json, jsonl or md", name);
}

const std::vector<std::string>& summary_metrics() {
  static const std::vector<std::string> m{
      "seconds",         "prefill_tok_s",  "decode_tok_s",        "mean_power_w",
      "peak_power_w",    "gross_energy_j", "net_energy_j",        "j_per_token",
      "j_per_1k_tokens", "j_per_request",  "prefill_j_per_token", "decode_j_per_token"};
  return m;
}

namespace {

Table run_query(Database& db, const std::string& sql) {
  Table t;
  auto st = db.prepare(sql);
  for (int i = 0; i < st.column_count(); ++i) t.columns.push_back(st.column_name(i));
  while (st.step()) {
    std::vector<Cell> row;
    for (int i = 0; i < st.column_count(); ++i) {
      switch (st.column_type(i)) {
        case SQLITE_NULL:
          row.emplace_back(std::monostate{});
          break;
        case SQLITE_INTEGER:
          row.emplace_back(st.get_int(i));
          break;
        case SQLITE_FLOAT:
          row.emplace_back(st.get_double(i));
          break;
        default:
          row.emplace_back(st.get_text(i));
          break;
      }
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string phase_column(const char* phase, const char* col) {
  return fmt::format(
      "(SELECT p.{1} FROM phases p WHERE p.run_id = r.id AND p.name = '{0}') AS {0}_{1}", phase,
      col);
}

std::string exact(double v) {
  return fmt::format("{}", v);
}  // shortest round-trip form

// Whether a text is a plain decimal number ("-1.5", "2e-3"), which a spreadsheet reads as
// that number rather than as a formula.
bool plain_number(std::string_view s) {
  if (s.starts_with('+')) s.remove_prefix(1);
  if (s.empty() || s.find_first_not_of("0123456789.eE+-") != std::string_view::npos) return false;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(v);
}

std::string csv_field(const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) return "";
  if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&c)) return exact(*d);
  std::string s = std::get<std::string>(c);
  // Text a spreadsheet would run as a formula (a model named "=HYPERLINK(...)") gets a leading
  // apostrophe, which spreadsheets take as "this is text". Numbers are never text cells here.
  if (!s.empty() && std::string_view("=+-@\t\r").find(s[0]) != std::string_view::npos &&
      !plain_number(s))
    s.insert(0, 1, '\'');
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + '"';
}

nlohmann::ordered_json json_value(const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) return nullptr;
  if (const auto* i = std::get_if<int64_t>(&c)) return *i;
  if (const auto* d = std::get_if<double>(&c)) return *d;
  return std::get<std::string>(c);
}

bool is_energy_column(const std::string& name) {
  return name.find("energy") != std::string::npos || name.find("power") != std::string::npos ||
         name.find("j_per") != std::string::npos;
}

std::string md_cell(const Cell& c, const std::string& column) {
  if (std::holds_alternative<std::monostate>(c))
    return is_energy_column(column) ? "not measured" : "";
  if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&c)) return fmt::format("{:.6g}", *d);
  std::string s = std::get<std::string>(c);
  for (auto& ch : s)
    if (ch == '|' || ch == '\n') ch = ' ';
  return s;
}

// A mean and its sd for people: fixed decimals giving the mean 4 significant digits (at least
// 3), the sd to the same decimals; never an exponent.
std::string mean_sd(double mean, double sd) {
  const double mag =
      mean == 0 || !std::isfinite(mean) ? 0 : std::floor(std::log10(std::fabs(mean)));
  const int decimals = int(std::clamp(3.0 - mag, 0.0, 9.0));
  if (!std::isfinite(sd)) return fmt::format("{:.{}f}", mean, decimals);
  return fmt::format("{:.{}f} ± {:.{}f}", mean, decimals, sd, decimals);
}

std::string md_table(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string out = "|";
  for (size_t i = 0; i < header.size(); ++i) out += fmt::format(" {:<{}} |", header[i], w[i]);
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) out += fmt::format(" {:-<{}} |", "", w[i]);
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (size_t i = 0; i < r.size(); ++i) out += fmt::format(" {:<{}} |", r[i], w[i]);
    out += "\n";
  }
  return out;
}

std::string quality_sql() {
  std::string sql =
      "SELECT q.id AS quality_id, q.session_id, m.source AS model, f.name AS format, "
      "f.params_json AS format_params, b.name AS base_format, q.device, q.ctx, q.chunks, "
      "q.tokens_scored, q.text_tokens, q.text_source, q.tokens_sha256, q.ppl, q.ppl_err, q.nll, "
      "q.nll_err, q.ln_ppl_ratio, q.ln_ppl_ratio_err, q.kld, q.kld_err";
  const char* pct[] = {"max", "p99_9", "p99", "p95", "p90", "median", "p10", "p5", "p1", "min"};
  for (const char* p : pct) sql += fmt::format(", q.kld_{}", p);
  sql += ", q.same_top1, q.same_top1_err, q.delta_p, q.delta_p_err, q.delta_p_rms";
  for (const char* p : pct) sql += fmt::format(", q.delta_p_{}", p);
  sql +=
      ", q.seconds, q.engine, q.created_at FROM quality_scores q JOIN models m ON "
      "m.id = q.model_id JOIN formats f ON f.id = q.format_id JOIN formats b ON "
      "b.id = q.base_format_id ORDER BY q.id";
  return sql;
}

}  // namespace

Table export_table(Store& store, ExportTable which) {
  if (which == ExportTable::Runs) {
    std::string sql =
        "SELECT r.id AS run_id, r.config_id, m.source AS model, f.name AS format, c.batch, "
        "c.prompt_len, c.gen_len, c.device, r.round, r.idx, r.is_warmup, r.is_rerun_round, r.k, "
        "r.prompt_tokens, r.generated_tokens, r.decode_tokens, r.seconds, r.prefill_seconds, "
        "r.decode_seconds, r.prefill_tok_s, r.decode_tok_s, r.mean_power_w, r.peak_power_w, "
        "r.idle_power_w, r.gross_energy_j, r.net_energy_j, r.j_per_token, r.j_per_1k_tokens, "
        "r.j_per_request, r.prefill_j_per_token, r.decode_j_per_token, ";
    for (const char* ph : {"prefill", "decode"})
      for (const char* col : {"gross_energy_j", "net_energy_j"})
        sql += phase_column(ph, col) + ", ";
    sql +=
        "r.host_energy_j, r.temp_start_c, r.temp_end_c, r.sm_clock_mhz, r.mem_clock_mhz, "
        "r.counter_vs_timeline, r.flags, c.energy_note FROM runs r "
        "JOIN configurations c ON c.id = r.config_id JOIN models m ON m.id = c.model_id "
        "JOIN formats f ON f.id = c.format_id ORDER BY r.config_id, r.round, r.is_warmup DESC, "
        "r.idx";
    return run_query(store.db_, sql);
  }
  if (which == ExportTable::Quality) return run_query(store.db_, quality_sql());
  std::string sql =
      "SELECT c.id AS config_id, m.source AS model, f.name AS format, f.params_json AS "
      "format_params, c.batch, c.prompt_len, c.gen_len, c.device, c.engine, c.status, c.gate, "
      "c.rounds, c.error, c.energy_note";
  for (const auto& metric : summary_metrics())
    for (const char* col : {"n", "mean", "sd", "cv", "ci_low", "ci_high"})
      sql += fmt::format(
          ", (SELECT s.{1} FROM config_stats s WHERE s.config_id = c.id AND s.metric = '{0}') "
          "AS {0}_{1}",
          metric, col);
  // The accuracy of the configuration's model and format beside its energy (any device: the
  // scores do not depend on it beyond rounding).
  for (const char* col : {"ppl", "ppl_err", "ln_ppl_ratio", "kld", "kld_err", "same_top1"})
    sql += fmt::format(
        ", (SELECT q.{0} FROM quality_scores q WHERE q.model_id = c.model_id AND q.format_id = "
        "c.format_id ORDER BY q.id DESC LIMIT 1) AS quality_{0}",
        col);
  sql +=
      " FROM configurations c JOIN models m ON m.id = c.model_id JOIN formats f ON "
      "f.id = c.format_id ORDER BY c.id";
  return run_query(store.db_, sql);
}

std::string render(const Table& t, ExportFormat format) {
  std::string out;
  switch (format) {
    case ExportFormat::Csv: {
      for (size_t i = 0; i < t.columns.size(); ++i) {
        if (i) out += ',';
        out += csv_field(t.columns[i]);
      }
      out += '\n';
      for (const auto& row : t.rows) {
        for (size_t i = 0; i < row.size(); ++i) {
          if (i) out += ',';
          out += csv_field(row[i]);
        }
        out += '\n';
      }
      return out;
    }
    case ExportFormat::Json:
    case ExportFormat::Jsonl: {
      if (format == ExportFormat::Json) out = "[";
      for (size_t r = 0; r < t.rows.size(); ++r) {
        nlohmann::ordered_json obj;  // keeps the column order
        for (size_t i = 0; i < t.columns.size(); ++i) obj[t.columns[i]] = json_value(t.rows[r][i]);
        if (format == ExportFormat::Jsonl) {
          out += obj.dump();
          out += '\n';
        } else {
          out += r ? ",\n " : "\n ";
          out += obj.dump();
        }
      }
      if (format == ExportFormat::Json) out += "\n]\n";
      return out;
    }
    case ExportFormat::Md: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& row : t.rows) {
        std::vector<std::string> cells;
        for (size_t i = 0; i < row.size(); ++i) cells.push_back(md_cell(row[i], t.columns[i]));
        rows.push_back(std::move(cells));
      }
      return md_table(t.columns, rows);
    }
  }
  return out;
}

std::string render_summary(Store& store) {
  const Table t = export_table(store, ExportTable::Configs);
  auto col = [&](const std::string& name) {
    for (size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i] == name) return i;
    fail("internal: export column '{}' missing", name);
  };
  auto num = [](const Cell& c) {
    if (const auto* d = std::get_if<double>(&c)) return *d;
    if (const auto* i = std::get_if<int64_t>(&c)) return double(*i);
    return std::nan("");
  };
  auto text = [](const Cell& c) {
    if (const auto* s = std::get_if<std::string>(&c)) return *s;
    if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
    return std::string();
  };
  struct Shown {
    const char* metric;
    const char* header;
  };
  const Shown shown[] = {{"prefill_tok_s", "prefill tok/s"},
                         {"decode_tok_s", "decode tok/s"},
                         {"mean_power_w", "power W"},
                         {"j_per_1k_tokens", "J/1k tokens"},
                         {"j_per_request", "J/request"},
                         {"prefill_j_per_token", "prefill J/token"},
                         {"decode_j_per_token", "decode J/token"}};
  std::vector<std::string> header{"model", "format", "batch", "prompt",
                                  "gen",   "device", "n",     "gate"};
  for (const auto& s : shown) header.push_back(s.header);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : t.rows) {
    const std::string status_name = text(r[col("status")]);
    const ConfigStatus status = parse_config_status(status_name);
    std::vector<std::string> cells{text(r[col("model")]),         text(r[col("format")]),
                                   text(r[col("batch")]),         text(r[col("prompt_len")]),
                                   text(r[col("gen_len")]),       text(r[col("device")]),
                                   text(r[col("decode_tok_s_n")])};
    if (status == ConfigStatus::Failed) {
      cells.push_back("FAILED: " + text(r[col("error")]).substr(0, 80));
      for (size_t i = 0; i < std::size(shown); ++i) cells.push_back("");
    } else {
      const std::string gate = text(r[col("gate")]);
      cells.push_back(status == ConfigStatus::Done ? gate : status_name);
      const std::string note = text(r[col("energy_note")]);
      for (const auto& s : shown) {
        const double m = num(r[col(std::string(s.metric) + "_mean")]);
        const double sd = num(r[col(std::string(s.metric) + "_sd")]);
        if (std::isnan(m))
          cells.push_back(is_energy_column(s.metric) && !note.empty() ? "not measured" : "");
        else
          cells.push_back(mean_sd(m, sd));
      }
    }
    rows.push_back(std::move(cells));
  }
  std::string out = md_table(header, rows);
  // Each distinct reason energy was not measured, once, under the table.
  std::vector<std::string> notes;
  for (const auto& r : t.rows) {
    const std::string note = text(r[col("energy_note")]);
    if (!note.empty() && std::find(notes.begin(), notes.end(), note) == notes.end())
      notes.push_back(note);
  }
  for (const auto& n : notes) out += fmt::format("\nenergy not measured: {}\n", n);
  return out;
}

}  // namespace eco::store
