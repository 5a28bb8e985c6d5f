#include "store/store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "common/error.h"
#include "store/output_guard.h"
#include "store/schema.h"

namespace eco::store {

namespace fs = std::filesystem;

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, int(ms));
}

std::string_view to_string(ConfigStatus s) {
  switch (s) {
    case ConfigStatus::Pending:
      return "pending";
    case ConfigStatus::Running:
      return "running";
    case ConfigStatus::Done:
      return "done";
    case ConfigStatus::Failed:
      return "failed";
  }
  return "?";
}

std::string_view to_string(GateOutcome g) {
  switch (g) {
    case GateOutcome::None:
      return "";
    case GateOutcome::Passed:
      return "passed";
    case GateOutcome::PassedAfterRerun:
      return "passed-after-rerun";
    case GateOutcome::Failed:
      return "failed";
    case GateOutcome::NotEvaluated:
      return "not-evaluated";
  }
  return "?";
}

ConfigStatus parse_config_status(std::string_view name) {
  for (auto s :
       {ConfigStatus::Pending, ConfigStatus::Running, ConfigStatus::Done, ConfigStatus::Failed})
    if (to_string(s) == name) return s;
  fail(
      "configuration status '{}' is not one this ecocompute knows (pending, running, done, "
      "failed); the database may come from a newer version",
      name);
}

GateOutcome parse_gate_outcome(std::string_view name) {
  for (auto g : {GateOutcome::None, GateOutcome::Passed, GateOutcome::PassedAfterRerun,
                 GateOutcome::Failed, GateOutcome::NotEvaluated})
    if (to_string(g) == name) return g;
  fail(
      "gate outcome '{}' is not one this ecocompute knows (passed, passed-after-rerun, "
      "failed); the database may come from a newer version",
      name);
}

namespace {

uint32_t be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Reads the 100-byte SQLite header without involving SQLite, so nothing can be written to a
// file that is not ours. Returns the application id.
uint32_t check_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read database '{}' (check its permissions)", path.string());
  std::array<unsigned char, 100> h{};
  in.read(reinterpret_cast<char*>(h.data()), h.size());
  static const char magic[] = "SQLite format 3";
  if (in.gcount() < 100 || std::memcmp(h.data(), magic, 16) != 0)
    fail(
        "'{}' is not an ecocompute database (not an SQLite file); it was left unchanged. "
        "Choose a new --db path or remove the file",
        path.string());
  const uint32_t app = be32(&h[68]);
  if (app != uint32_t(kApplicationId))
    fail(
        "'{}' is an SQLite database but not an ecocompute study (application_id {:#x}, "
        "expected {:#x}); it was left unchanged. Choose a new --db path",
        path.string(), app, uint32_t(kApplicationId));
  return app;
}

void check_integrity_and_version(Database& db) {
  std::string result;
  try {
    Statement qc(db, "PRAGMA quick_check");
    while (qc.step()) result += qc.get_text(0);
  } catch (const Error& e) {
    // Only SQLite's own verdict means corruption; a file that cannot be read (a read-only
    // directory or file system where the WAL index cannot be created, a lock) is not damaged.
    const int code = sqlite3_errcode(db.handle());
    if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB)
      fail(
          "cannot read database '{}' ({}); the file itself was left unchanged. If its directory "
          "or file system is read-only, copy the database somewhere writable and use the copy",
          db.path(), sqlite3_errstr(sqlite3_extended_errcode(db.handle())));
    fail(
        "database '{}' is corrupt ({}); it was left unchanged. Restore it from a copy or use a "
        "new --db path",
        db.path(), e.what());
  }
  if (result != "ok")
    fail("database '{}' is corrupt (integrity check: {}); it was left unchanged", db.path(),
         result.substr(0, 200));
  const int64_t version = db.query_int("PRAGMA user_version");
  if (version > schema_version())
    fail(
        "database '{}' has schema version {} but this ecocompute understands up to {}; use a "
        "newer ecocompute to read it",
        db.path(), version, schema_version());
  if (version < 1)
    fail("database '{}' carries the ecocompute id but no schema; it was left unchanged", db.path());
}

void migrate(Database& db) {
  const int64_t version = db.query_int("PRAGMA user_version");
  for (int64_t v = version; v < schema_version(); ++v) {
    Transaction tx(db);
    db.exec(migrations()[size_t(v)]);
    db.exec(fmt::format("PRAGMA user_version = {}", v + 1));
    tx.commit();
  }
}

void configure(Database& db) {
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA journal_mode = WAL");
  // Durable commits: a run that was reported stored survives power loss.
  db.exec("PRAGMA synchronous = FULL");
}

// Moves `from` to `to` unless `to` exists (atomically: of two processes, one wins). False when
// `to` exists.
bool move_into_place(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno == EINVAL || errno == ENOSYS) {  // no RENAME_NOREPLACE on this file system
    if (::link(from.c_str(), to.c_str()) == 0) {
      ::unlink(from.c_str());
      return true;
    }
    if (errno == EEXIST) return false;
  }
  fail("cannot create database '{}': {}", to.string(), std::strerror(errno));
}

// Builds a fresh study beside `path`, locked from its first byte, and moves it into place only
// if nothing is there yet, so a crash never leaves a file without the ecocompute id at `path`
// and two creators never both succeed. Returns the lock, or nothing when another process
// created `path` first (the caller then opens that study as an existing one).
std::optional<StudyLock> create_new(const fs::path& path) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail("cannot create database '{}': directory '{}' does not exist (create it first)",
         path.string(), dir.string());
  if (::access(dir.c_str(), W_OK) != 0)
    fail("cannot create database '{}': directory '{}' is not writable (choose another --db)",
         path.string(), dir.string());
  remove_stale_creations(path);
  const fs::path tmp = path.string() + fmt::format(".creating-{}", ::getpid());
  fs::remove(tmp, ec);
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("cannot create database '{}': {} ({})", path.string(), tmp.string(), std::strerror(errno));
  StudyLock lock(fd);
  ::flock(fd, LOCK_EX);  // a new file nobody else has opened: this cannot wait
  try {
    {
      Database db(tmp.string(), Database::Mode::Create);
      db.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
      migrate(db);  // rollback-journal mode here: the header is final in the main file
    }
    if (!move_into_place(tmp, path)) {
      fs::remove(tmp, ec);
      return std::nullopt;
    }
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  return lock;
}

}  // namespace

Store Store::open(const fs::path& path) {
  std::error_code ec;
  std::optional<StudyLock> lock;
  if (!fs::exists(path, ec)) lock = create_new(path);
  if (!lock) {  // an existing study (or one another process created a moment ago)
    if (fs::is_directory(path, ec))
      fail("--db '{}' is a directory; give a file path such as {}/study.db", path.string(),
           path.string());
    check_header(path);
    if (::access(path.c_str(), W_OK) != 0)
      fail("database '{}' is not writable ({}; check its permissions)", path.string(),
           std::strerror(errno));
    lock = StudyLock::acquire(path);
    {
      Database ro(path.string(), Database::Mode::ReadOnly);
      check_integrity_and_version(ro);
    }
  }
  Database db(path.string(), Database::Mode::ReadWrite);
  configure(db);
  migrate(db);
  return Store(std::move(db), path, std::move(*lock));
}

Store Store::open_read_only(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("database '{}' does not exist", path.string());
  check_header(path);
  Database db(path.string(), Database::Mode::ReadOnly);
  try {
    check_integrity_and_version(db);
  } catch (const Error&) {
    if (!on_read_only_storage(path)) throw;
    db = Database(path.string(), Database::Mode::ReadOnlyImmutable);
    check_integrity_and_version(db);
  }
  if (db.query_int("PRAGMA user_version") != schema_version())
    fail(
        "database '{}' has an older schema; open it once with `ecocompute bench --resume` to "
        "upgrade it",
        path.string());
  return Store(std::move(db), path);
}

int64_t Store::add_session(const Session& s) {
  auto st = db_.prepare(
      "INSERT INTO sessions (started_at, command, hostname, os, cpu, gpu_name, gpu_uuid, "
      "gpu_driver, gpu_power_limit_w, cuda_version, cublas_version, eco_version, eco_git_commit, "
      "meter) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  st.bind(1, s.started_at).bind(2, s.command).bind(3, s.hostname).bind(4, s.os).bind(5, s.cpu);
  st.bind(6, s.gpu_name).bind(7, s.gpu_uuid).bind(8, s.gpu_driver).bind(9, s.gpu_power_limit_w);
  st.bind(10, s.cuda_version).bind(11, s.cublas_version).bind(12, s.eco_version);
  st.bind(13, s.eco_git_commit).bind(14, s.meter);
  st.run();
  return db_.last_insert_id();
}

std::optional<Session> Store::latest_session() {
  auto q = db_.prepare(
      "SELECT started_at, command, coalesce(hostname,''), coalesce(os,''), coalesce(cpu,''), "
      "coalesce(gpu_name,''), coalesce(gpu_uuid,''), coalesce(gpu_driver,''), "
      "gpu_power_limit_w, coalesce(cuda_version,''), coalesce(cublas_version,''), eco_version, "
      "eco_git_commit, coalesce(meter,'') FROM sessions ORDER BY id DESC LIMIT 1");
  if (!q.step()) return std::nullopt;
  Session s;
  int i = 0;
  for (std::string* field : {&s.started_at, &s.command, &s.hostname, &s.os, &s.cpu, &s.gpu_name,
                             &s.gpu_uuid, &s.gpu_driver})
    *field = q.get_text(i++);
  s.gpu_power_limit_w = q.get_double(i++);
  for (std::string* field :
       {&s.cuda_version, &s.cublas_version, &s.eco_version, &s.eco_git_commit, &s.meter})
    *field = q.get_text(i++);
  return s;
}

int64_t Store::upsert_model(const ModelRecord& m) {
  auto find = db_.prepare(
      "SELECT id FROM models WHERE source = ? AND config_json = ? AND weights_sha256_json = ?");
  find.bind(1, m.source).bind(2, m.config_json).bind(3, m.weights_sha256_json);
  if (find.step()) return find.get_int(0);
  auto st = db_.prepare(
      "INSERT INTO models (source, synthetic_shape, synthetic_seed, config_json, "
      "weights_sha256_json, parameter_count) VALUES (?,?,?,?,?,?)");
  st.bind(1, m.source).bind(4, m.config_json).bind(5, m.weights_sha256_json);
  if (m.synthetic_shape.empty())
    st.bind_null(2);
  else
    st.bind(2, m.synthetic_shape);
  st.bind(3, m.synthetic_seed).bind(6, m.parameter_count);
  st.run();
  return db_.last_insert_id();
}

int64_t Store::upsert_format(const FormatRecord& f) {
  auto find = db_.prepare("SELECT id FROM formats WHERE name = ? AND params_json = ?");
  find.bind(1, f.name).bind(2, f.params_json);
  if (find.step()) return find.get_int(0);
  auto st = db_.prepare("INSERT INTO formats (name, params_json) VALUES (?,?)");
  st.bind(1, f.name).bind(2, f.params_json);
  st.run();
  return db_.last_insert_id();
}

namespace {
constexpr const char* kConfigColumns =
    "id, model_id, format_id, batch, prompt_len, gen_len, device, coalesce(engine,''), "
    "protocol_json, status, coalesce(gate,''), coalesce(gate_json,''), rounds, "
    "coalesce(error,''), coalesce(energy_note,'') FROM configurations";

ConfigRecord read_config(const Statement& st) {
  ConfigRecord c;
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
  return c;
}
}  // namespace

std::optional<ConfigRecord> Store::find_config(const ConfigKey& k) {
  auto st = db_.prepare(fmt::format(
      "SELECT {} WHERE model_id = ? AND format_id = ? AND batch = ? AND prompt_len = ? AND "
      "gen_len = ? AND device = ?",
      kConfigColumns));
  st.bind(1, k.model_id).bind(2, k.format_id).bind(3, k.batch).bind(4, k.prompt_len);
  st.bind(5, k.gen_len).bind(6, k.device);
  if (!st.step()) return std::nullopt;
  return read_config(st);
}

std::vector<ConfigRecord> Store::configs() {
  auto st = db_.prepare(fmt::format("SELECT {} ORDER BY id", kConfigColumns));
  std::vector<ConfigRecord> out;
  while (st.step()) out.push_back(read_config(st));
  return out;
}

int64_t Store::create_config(const ConfigKey& k, const std::string& protocol_json) {
  auto st = db_.prepare(
      "INSERT INTO configurations (model_id, format_id, batch, prompt_len, gen_len, device, "
      "protocol_json, status) VALUES (?,?,?,?,?,?,?,'pending')");
  st.bind(1, k.model_id).bind(2, k.format_id).bind(3, k.batch).bind(4, k.prompt_len);
  st.bind(5, k.gen_len).bind(6, k.device).bind(7, protocol_json);
  st.run();
  return db_.last_insert_id();
}

void Store::start_config(int64_t config_id, int64_t session_id, const std::string& engine,
                         const std::string& protocol_json, const std::string& energy_note) {
  Transaction tx(db_);
  for (const char* table : {"power_timeline", "runs", "config_stats", "protocol_events"}) {
    auto del = db_.prepare(fmt::format("DELETE FROM {} WHERE config_id = ?", table));
    del.bind(1, config_id);
    del.run();
  }
  auto st = db_.prepare(
      "UPDATE configurations SET status = 'running', session_id = ?, engine = ?, "
      "protocol_json = ?, energy_note = ?, gate = NULL, gate_json = NULL, rounds = 0, "
      "error = NULL, started_at = ?, finished_at = NULL WHERE id = ?");
  st.bind(1, session_id).bind(2, engine).bind(3, protocol_json).bind(5, utc_now());
  if (energy_note.empty())
    st.bind_null(4);
  else
    st.bind(4, energy_note);
  st.bind(6, config_id);
  st.run();
  tx.commit();
}

void Store::set_config_engine(int64_t config_id, const std::string& engine) {
  auto st = db_.prepare("UPDATE configurations SET engine = ? WHERE id = ?");
  st.bind(1, engine).bind(2, config_id);
  st.run();
}

void Store::set_run_flags(int64_t run_id, const std::string& flags) {
  auto st = db_.prepare("UPDATE runs SET flags = ? WHERE id = ?");
  st.bind(1, flags).bind(2, run_id);
  st.run();
}

int64_t Store::insert_run(const RunRecord& r) {
  Transaction tx(db_);
  auto st = db_.prepare(
      "INSERT INTO runs (config_id, round, idx, is_warmup, is_rerun_round, k, batch, "
      "prompt_tokens, generated_tokens, decode_tokens, seconds, prefill_seconds, decode_seconds, "
      "prefill_tok_s, decode_tok_s, mean_power_w, peak_power_w, idle_power_w, gross_energy_j, "
      "net_energy_j, j_per_token, j_per_1k_tokens, j_per_request, prefill_j_per_token, "
      "decode_j_per_token, host_energy_j, temp_start_c, temp_end_c, sm_clock_mhz, mem_clock_mhz, "
      "counter_vs_timeline, flags) VALUES "
      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  int i = 0;
  auto b = [&](const auto& v) { st.bind(++i, v); };
  b(r.config_id), b(r.round), b(r.index), b(r.warmup), b(r.round > 0), b(r.k), b(r.batch);
  b(r.prompt_tokens), b(r.generated_tokens), b(r.decode_tokens), b(r.seconds);
  b(r.prefill_seconds), b(r.decode_seconds), b(r.prefill_tok_s), b(r.decode_tok_s);
  b(r.mean_power_w), b(r.peak_power_w), b(r.idle_power_w), b(r.gross_energy_j);
  b(r.net_energy_j), b(r.j_per_token), b(r.j_per_1k_tokens), b(r.j_per_request);
  b(r.prefill_j_per_token), b(r.decode_j_per_token), b(r.host_energy_j), b(r.temp_start_c);
  b(r.temp_end_c), b(r.sm_clock_mhz), b(r.mem_clock_mhz), b(r.counter_vs_timeline);
  b(r.flags);
  st.run();
  const int64_t run_id = db_.last_insert_id();

  auto ph = db_.prepare(
      "INSERT INTO phases (run_id, name, seconds, tokens, gross_energy_j, net_energy_j, "
      "timeline_energy_j, idle_power_w, mean_power_w, peak_power_w, j_per_token, "
      "counter_updates, flags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  for (const auto& p : r.phases) {
    ph.bind(1, run_id).bind(2, p.name).bind(3, p.seconds).bind(4, p.tokens);
    ph.bind(5, p.gross_energy_j).bind(6, p.net_energy_j).bind(7, p.timeline_energy_j);
    ph.bind(8, p.idle_power_w).bind(9, p.mean_power_w).bind(10, p.peak_power_w);
    ph.bind(11, p.j_per_token).bind(12, p.counter_updates).bind(13, p.flags);
    ph.run();
  }
  auto tl = db_.prepare(
      "INSERT INTO power_timeline (run_id, config_id, t, device, watts, temp_c, sm_clock_mhz, "
      "mem_clock_mhz) VALUES (?,?,?,?,?,?,?,?)");
  for (const auto& s : r.timeline) {
    tl.bind(1, run_id).bind(2, r.config_id).bind(3, s.t).bind(4, s.device).bind(5, s.watts);
    tl.bind(6, s.temp_c).bind(7, s.sm_clock_mhz).bind(8, s.mem_clock_mhz);
    tl.run();
  }
  tx.commit();
  return run_id;
}

void Store::finish_config(int64_t config_id, GateOutcome gate, const std::string& gate_json,
                          int rounds, const std::vector<StatRecord>& stats) {
  Transaction tx(db_);
  auto del = db_.prepare("DELETE FROM config_stats WHERE config_id = ?");
  del.bind(1, config_id);
  del.run();
  auto ins = db_.prepare(
      "INSERT INTO config_stats (config_id, metric, round, n, mean, sd, cv, ci_low, ci_high) "
      "VALUES (?,?,?,?,?,?,?,?,?)");
  for (const auto& s : stats) {
    ins.bind(1, config_id).bind(2, s.metric).bind(3, s.round).bind(4, s.n).bind(5, s.mean);
    ins.bind(6, s.sd).bind(7, s.cv).bind(8, s.ci_low).bind(9, s.ci_high);
    ins.run();
  }
  auto st = db_.prepare(
      "UPDATE configurations SET status = ?, gate = ?, gate_json = ?, rounds = ?, "
      "finished_at = ? WHERE id = ?");
  st.bind(1, to_string(ConfigStatus::Done)).bind(3, gate_json).bind(4, rounds);
  st.bind(5, utc_now()).bind(6, config_id);
  if (gate == GateOutcome::None)
    st.bind_null(2);
  else
    st.bind(2, to_string(gate));
  st.run();
  tx.commit();
}

void Store::fail_config(int64_t config_id, const std::string& stage, const std::string& error) {
  Transaction tx(db_);
  auto f = db_.prepare("INSERT INTO failures (config_id, at, stage, error) VALUES (?,?,?,?)");
  f.bind(1, config_id).bind(2, utc_now()).bind(3, stage).bind(4, error);
  f.run();
  auto st = db_.prepare(
      "UPDATE configurations SET status = 'failed', error = ?, finished_at = ? WHERE id = ?");
  st.bind(1, fmt::format("{}: {}", stage, error)).bind(2, utc_now()).bind(3, config_id);
  st.run();
  tx.commit();
}

void Store::add_event(int64_t session_id, const ProtocolEvent& e) {
  auto st = db_.prepare(
      "INSERT INTO protocol_events (session_id, config_id, step, at, seconds, outcome, "
      "details_json) VALUES (?,?,?,?,?,?,?)");
  st.bind(1, session_id).bind(2, e.config_id).bind(3, e.step).bind(4, utc_now());
  st.bind(5, e.seconds).bind(6, e.outcome).bind(7, e.details_json);
  st.run();
}

std::optional<StoredEvent> Store::first_idle_baseline(const std::string& gpu_uuid) {
  if (gpu_uuid.empty()) return std::nullopt;
  auto q = db_.prepare(
      "SELECT e.session_id, e.at, e.details_json FROM protocol_events e "
      "JOIN sessions s ON s.id = e.session_id WHERE e.step = 'idle-baseline' AND "
      "e.outcome = 'measured' AND s.gpu_uuid = ? ORDER BY e.id LIMIT 1");
  q.bind(1, gpu_uuid);
  if (!q.step()) return std::nullopt;
  return StoredEvent{q.get_int(0), q.get_text(1), q.get_text(2)};
}

std::vector<RunRecord> Store::runs(int64_t config_id, bool with_phases) {
  auto st = db_.prepare(
      "SELECT id, config_id, round, idx, is_warmup, k, batch, prompt_tokens, generated_tokens, "
      "decode_tokens, seconds, prefill_seconds, decode_seconds, prefill_tok_s, decode_tok_s, "
      "mean_power_w, peak_power_w, idle_power_w, gross_energy_j, net_energy_j, j_per_token, "
      "j_per_1k_tokens, j_per_request, prefill_j_per_token, decode_j_per_token, host_energy_j, "
      "temp_start_c, temp_end_c, sm_clock_mhz, mem_clock_mhz, counter_vs_timeline, flags "
      "FROM runs WHERE config_id = ? ORDER BY round, is_warmup DESC, idx");
  st.bind(1, config_id);
  std::vector<RunRecord> out;
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
    out.push_back(std::move(r));
  }
  if (with_phases) {
    auto ph = db_.prepare(
        "SELECT name, seconds, tokens, gross_energy_j, net_energy_j, timeline_energy_j, "
        "idle_power_w, mean_power_w, peak_power_w, j_per_token, counter_updates, flags "
        "FROM phases WHERE run_id = ? ORDER BY id");
    for (auto& r : out) {
      ph.bind(1, r.id);
      while (ph.step()) {
        PhaseRecord p;
        p.name = ph.get_text(0);
        p.seconds = ph.get_double(1);
        p.tokens = ph.get_int(2);
        p.gross_energy_j = ph.get_double(3);
        p.net_energy_j = ph.get_double(4);
        p.timeline_energy_j = ph.get_double(5);
        p.idle_power_w = ph.get_double(6);
        p.mean_power_w = ph.get_double(7);
        p.peak_power_w = ph.get_double(8);
        p.j_per_token = ph.get_double(9);
        if (!ph.is_null(10)) p.counter_updates = ph.get_int(10);
        p.flags = ph.get_text(11);
        r.phases.push_back(std::move(p));
      }
      ph.reset();
    }
  }
  return out;
}

std::vector<StatRecord> Store::stats(int64_t config_id) {
  auto st = db_.prepare(
      "SELECT metric, round, n, mean, sd, cv, ci_low, ci_high FROM config_stats "
      "WHERE config_id = ? ORDER BY metric");
  st.bind(1, config_id);
  std::vector<StatRecord> out;
  while (st.step())
    out.push_back({st.get_text(0), int(st.get_int(1)), int(st.get_int(2)), st.get_double(3),
                   st.get_double(4), st.get_double(5), st.get_double(6), st.get_double(7)});
  return out;
}

}  // namespace eco::store
