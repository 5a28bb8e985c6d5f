#include "store/reader.h"

#include <fmt/format.h>

#include "common/error.h"
#include "store/output_guard.h"
#include "store/schema.h"

namespace eco::store {

namespace fs = std::filesystem;

namespace {

std::optional<int64_t> optional_int(const Statement& st, int i) {
  if (st.is_null(i)) return std::nullopt;
  return st.get_int(i);
}

// Opening read-only and asking SQLite for the header fields: a file that is not a database
// fails at the first statement, which is reported as such.
int check_study(Database& db) {
  int64_t app = 0, version = 0;
  try {
    app = db.query_int("PRAGMA application_id");
    version = db.query_int("PRAGMA user_version");
  } catch (const Error& e) {
    fail(
        "'{}' is not an ecocompute study ({}); give the --db file `ecocompute bench` or `run` "
        "wrote",
        db.path(), e.what());
  }
  if (app != kApplicationId)
    fail(
        "'{}' is an SQLite database but not an ecocompute study (application_id {:#x}); give the "
        "--db file `ecocompute bench` or `run` wrote",
        db.path(), uint32_t(app));
  if (version < 1) fail("database '{}' carries the ecocompute id but no schema", db.path());
  if (version > schema_version())
    fail(
        "database '{}' has schema version {} but this ecocompute reads up to {}; use a newer "
        "ecocompute to read it",
        db.path(), version, schema_version());
  std::string check;
  try {
    Statement qc(db, "PRAGMA quick_check");
    while (qc.step()) check += qc.get_text(0);
  } catch (const Error& e) {
    fail("database '{}' is corrupt ({}); restore it from a copy", db.path(), e.what());
  }
  if (check != "ok")
    fail("database '{}' is corrupt (integrity check: {}); restore it from a copy", db.path(),
         check.substr(0, 200));
  return int(version);
}

Database open_existing(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    fail("database '{}' does not exist (check the --db path)", path.string());
  if (fs::is_directory(path, ec))
    fail("--db '{}' is a directory; give the study's database file", path.string());
  return Database(path.string(), Database::Mode::ReadOnly);
}

}  // namespace

StudyReader::StudyReader(const fs::path& path) : db_(open_existing(path)), path_(path) {
  try {
    version_ = check_study(db_);
  } catch (const Error&) {
    // On a read-only mount a WAL study cannot be read the usual way (SQLite cannot create its
    // -shm file) and would be misreported as corrupt; nothing can change it there, so read it
    // as immutable, and let a real fault be reported from that reading.
    if (!on_read_only_storage(path)) throw;
    db_ = Database(path.string(), Database::Mode::ReadOnlyImmutable);
    version_ = check_study(db_);
  }
}

bool StudyReader::has_table(std::string_view name) {
  auto st = db_.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  st.bind(1, name);
  return st.step();
}

std::vector<SessionRow> StudyReader::sessions() {
  auto st = db_.prepare(
      "SELECT id, started_at, command, coalesce(hostname,''), coalesce(os,''), coalesce(cpu,''), "
      "coalesce(gpu_name,''), coalesce(gpu_uuid,''), coalesce(gpu_driver,''), gpu_power_limit_w, "
      "coalesce(cuda_version,''), coalesce(cublas_version,''), eco_version, eco_git_commit, "
      "coalesce(meter,'') FROM sessions ORDER BY id");
  std::vector<SessionRow> out;
  while (st.step()) {
    SessionRow r;
    r.id = st.get_int(0);
    auto& s = r.session;
    s.started_at = st.get_text(1);
    s.command = st.get_text(2);
    s.hostname = st.get_text(3);
    s.os = st.get_text(4);
    s.cpu = st.get_text(5);
    s.gpu_name = st.get_text(6);
    s.gpu_uuid = st.get_text(7);
    s.gpu_driver = st.get_text(8);
    s.gpu_power_limit_w = st.get_double(9);
    s.cuda_version = st.get_text(10);
    s.cublas_version = st.get_text(11);
    s.eco_version = st.get_text(12);
    s.eco_git_commit = st.get_text(13);
    s.meter = st.get_text(14);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ModelRow> StudyReader::models() {
  auto st = db_.prepare(
      "SELECT id, source, coalesce(synthetic_shape,''), synthetic_seed, config_json, "
      "weights_sha256_json, coalesce(parameter_count, 0) FROM models ORDER BY id");
  std::vector<ModelRow> out;
  while (st.step())
    out.push_back({st.get_int(0),
                   {st.get_text(1), st.get_text(2), optional_int(st, 3), st.get_text(4),
                    st.get_text(5), st.get_int(6)}});
  return out;
}

std::vector<FormatRow> StudyReader::formats() {
  auto st = db_.prepare("SELECT id, name, params_json FROM formats ORDER BY id");
  std::vector<FormatRow> out;
  while (st.step()) out.push_back({st.get_int(0), {st.get_text(1), st.get_text(2)}});
  return out;
}

std::vector<ConfigRow> StudyReader::configs() {
  auto st = db_.prepare(
      "SELECT id, model_id, format_id, batch, prompt_len, gen_len, device, coalesce(engine,''), "
      "protocol_json, status, coalesce(gate,''), coalesce(gate_json,''), rounds, "
      "coalesce(error,''), coalesce(energy_note,''), session_id, coalesce(started_at,''), "
      "coalesce(finished_at,'') FROM configurations ORDER BY id");
  std::vector<ConfigRow> out;
  while (st.step()) {
    ConfigRow r;
    auto& c = r.config;
    c.id = st.get_int(0);
    c.key = {st.get_int(1),      st.get_int(2),      int(st.get_int(3)),
             int(st.get_int(4)), int(st.get_int(5)), st.get_text(6)};
    c.engine = st.get_text(7);
    c.protocol_json = st.get_text(8);
    c.status = parse_config_status(st.get_text(9));
    c.gate = parse_gate_outcome(st.get_text(10));
    c.gate_json = st.get_text(11);
    c.rounds = int(st.get_int(12));
    c.error = st.get_text(13);
    c.energy_note = st.get_text(14);
    r.session_id = optional_int(st, 15);
    r.started_at = st.get_text(16);
    r.finished_at = st.get_text(17);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ConfigStatRow> StudyReader::config_stats() {
  auto st = db_.prepare(
      "SELECT config_id, metric, round, n, mean, sd, cv, ci_low, ci_high FROM config_stats "
      "ORDER BY config_id, metric");
  std::vector<ConfigStatRow> out;
  while (st.step())
    out.push_back({st.get_int(0),
                   {st.get_text(1), int(st.get_int(2)), int(st.get_int(3)), st.get_double(4),
                    st.get_double(5), st.get_double(6), st.get_double(7), st.get_double(8)}});
  return out;
}

std::vector<RunRecord> StudyReader::runs() {
  auto st = db_.prepare(
      "SELECT id, config_id, round, idx, is_warmup, k, batch, prompt_tokens, generated_tokens, "
      "decode_tokens, seconds, prefill_seconds, decode_seconds, prefill_tok_s, decode_tok_s, "
      "mean_power_w, peak_power_w, idle_power_w, gross_energy_j, net_energy_j, j_per_token, "
      "j_per_1k_tokens, j_per_request, prefill_j_per_token, decode_j_per_token, host_energy_j, "
      "temp_start_c, temp_end_c, sm_clock_mhz, mem_clock_mhz, counter_vs_timeline, flags "
      "FROM runs ORDER BY config_id, round, is_warmup DESC, idx");
  std::vector<RunRecord> out;
  std::map<int64_t, size_t> by_id;
  while (st.step()) {
    RunRecord r;
    int i = 0;
    r.id = st.get_int(i++);
    r.config_id = st.get_int(i++);
    r.round = int(st.get_int(i++));
    r.index = int(st.get_int(i++));
    r.warmup = st.get_int(i++) != 0;
    r.k = int(st.get_int(i++));
    r.batch = int(st.get_int(i++));
    r.prompt_tokens = st.get_int(i++);
    r.generated_tokens = st.get_int(i++);
    r.decode_tokens = st.get_int(i++);
    for (double* d : {&r.seconds,       &r.prefill_seconds,     &r.decode_seconds,
                      &r.prefill_tok_s, &r.decode_tok_s,        &r.mean_power_w,
                      &r.peak_power_w,  &r.idle_power_w,        &r.gross_energy_j,
                      &r.net_energy_j,  &r.j_per_token,         &r.j_per_1k_tokens,
                      &r.j_per_request, &r.prefill_j_per_token, &r.decode_j_per_token,
                      &r.host_energy_j, &r.temp_start_c,        &r.temp_end_c,
                      &r.sm_clock_mhz,  &r.mem_clock_mhz,       &r.counter_vs_timeline})
      *d = st.get_double(i++);
    r.flags = st.get_text(i++);
    by_id[r.id] = out.size();
    out.push_back(std::move(r));
  }
  auto ph = db_.prepare(
      "SELECT run_id, name, seconds, tokens, gross_energy_j, net_energy_j, timeline_energy_j, "
      "idle_power_w, mean_power_w, peak_power_w, j_per_token, counter_updates, flags "
      "FROM phases ORDER BY run_id, id");
  while (ph.step()) {
    const auto it = by_id.find(ph.get_int(0));
    if (it == by_id.end()) continue;
    PhaseRecord p;
    p.name = ph.get_text(1);
    p.seconds = ph.get_double(2);
    p.tokens = ph.get_int(3);
    p.gross_energy_j = ph.get_double(4);
    p.net_energy_j = ph.get_double(5);
    p.timeline_energy_j = ph.get_double(6);
    p.idle_power_w = ph.get_double(7);
    p.mean_power_w = ph.get_double(8);
    p.peak_power_w = ph.get_double(9);
    p.j_per_token = ph.get_double(10);
    p.counter_updates = optional_int(ph, 11);
    p.flags = ph.get_text(12);
    out[it->second].phases.push_back(std::move(p));
  }
  return out;
}

namespace {
constexpr const char* kTimelineColumns =
    "run_id, t, device, watts, temp_c, sm_clock_mhz, mem_clock_mhz FROM power_timeline";

TimelineSample read_sample(const Statement& st) {
  return {st.get_double(1), int(st.get_int(2)), st.get_double(3),
          st.get_double(4), st.get_double(5),   st.get_double(6)};
}
}  // namespace

bool StudyReader::has_run(int64_t run_id) {
  auto st = db_.prepare("SELECT 1 FROM runs WHERE id = ?");
  st.bind(1, run_id);
  return st.step();
}

std::vector<TimelineSample> StudyReader::timeline(int64_t run_id) {
  auto st =
      db_.prepare(fmt::format("SELECT {} WHERE run_id = ? ORDER BY device, t", kTimelineColumns));
  st.bind(1, run_id);
  std::vector<TimelineSample> out;
  while (st.step()) out.push_back(read_sample(st));
  return out;
}

std::map<int64_t, std::vector<TimelineSample>> StudyReader::timelines() {
  auto st = db_.prepare(fmt::format("SELECT {} WHERE run_id IS NOT NULL ORDER BY run_id, device, t",
                                    kTimelineColumns));
  std::map<int64_t, std::vector<TimelineSample>> out;
  while (st.step()) out[st.get_int(0)].push_back(read_sample(st));
  return out;
}

int64_t StudyReader::timeline_samples() {
  return db_.query_int("SELECT count(*) FROM power_timeline WHERE run_id IS NOT NULL");
}

std::vector<EventRow> StudyReader::events() {
  auto st = db_.prepare(
      "SELECT id, session_id, config_id, step, at, seconds, outcome, details_json "
      "FROM protocol_events ORDER BY id");
  std::vector<EventRow> out;
  while (st.step()) {
    EventRow e;
    e.id = st.get_int(0);
    e.session_id = optional_int(st, 1);
    e.config_id = optional_int(st, 2);
    e.step = st.get_text(3);
    e.at = st.get_text(4);
    e.seconds = st.get_double(5);
    e.outcome = st.get_text(6);
    e.details_json = st.get_text(7);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<FailureRow> StudyReader::failures() {
  auto st = db_.prepare("SELECT config_id, at, stage, error FROM failures ORDER BY id");
  std::vector<FailureRow> out;
  while (st.step())
    out.push_back({optional_int(st, 0), st.get_text(1), st.get_text(2), st.get_text(3)});
  return out;
}

Table StudyReader::table(std::string_view name) {
  Table t;
  if (!has_table(name)) return t;
  // The name was found in sqlite_master, and is quoted as an identifier besides.
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  auto st = db_.prepare(fmt::format("SELECT * FROM {}", quoted));
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

}  // namespace eco::store
