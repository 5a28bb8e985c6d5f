#pragma once
// One SQLite file per study. Opening checks, before anything is written, that the file is an
// ecocompute database (PRAGMA application_id) of a schema this build understands; a foreign or
// corrupt file is reported and left untouched. Each run is written in one transaction.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/quality_records.h"
#include "store/query.h"
#include "store/records.h"
#include "store/sqlite.h"
#include "store/study_lock.h"

namespace eco::store {

struct Table;
enum class ExportTable;

class Store {
 public:
  // Opens an existing study or creates a new one (the directory must exist and be writable).
  // The study stays locked against other writers while the Store lives (store/study_lock.h);
  // creation is atomic and exclusive: of two processes creating the same new file, one creates
  // it and the other is refused as a second writer.
  static Store open(const std::filesystem::path& path);
  // Opens an existing study for reading only (export, report).
  static Store open_read_only(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }

  // BEGIN IMMEDIATE now; rolled back when it goes out of scope without commit(). Single-row
  // calls made while it is open (add_session, upsert_*, find_config, create_config) belong to
  // it; the calls that open their own transaction (start_config, insert_run, finish_config,
  // fail_config) must not be made inside one.
  Transaction transaction() { return Transaction(db_); }

  int64_t add_session(const Session& s);
  // The most recent session (the sweep that wrote last); nullopt in an empty study.
  std::optional<Session> latest_session();
  int64_t upsert_model(const ModelRecord& m);
  int64_t upsert_format(const FormatRecord& f);

  std::optional<ConfigRecord> find_config(const ConfigKey& key);
  std::vector<ConfigRecord> configs();
  // Creates a pending configuration, returning its id.
  int64_t create_config(const ConfigKey& key, const std::string& protocol_json);
  // In one transaction: deletes every run, statistic, timeline and event of the configuration
  // (a half-done attempt) and marks it running under `session_id`.
  void start_config(int64_t config_id, int64_t session_id, const std::string& engine,
                    const std::string& protocol_json, const std::string& energy_note);
  void set_config_engine(int64_t config_id, const std::string& engine);
  // Writes the run with its phases and timeline in one transaction; returns the run id.
  int64_t insert_run(const RunRecord& run);
  // Replaces a stored run's flags (the protocol sets a run aside after later runs showed why).
  void set_run_flags(int64_t run_id, const std::string& flags);
  // Marks the configuration done with its gate verdict and statistics, in one transaction.
  void finish_config(int64_t config_id, GateOutcome gate, const std::string& gate_json, int rounds,
                     const std::vector<StatRecord>& stats);
  void fail_config(int64_t config_id, const std::string& stage, const std::string& error);
  void add_event(int64_t session_id, const ProtocolEvent& e);
  // The first idle baseline metered in this study on the GPU `gpu_uuid` (event idle-baseline,
  // outcome "measured"): a study resumed by a later process subtracts the same idle power as
  // its first call. nullopt when none was metered on that GPU.
  std::optional<StoredEvent> first_idle_baseline(const std::string& gpu_uuid);

  std::vector<RunRecord> runs(int64_t config_id, bool with_phases = true);
  std::vector<StatRecord> stats(int64_t config_id);

  // Quality scores (store/quality_store.cpp): one row per scored format, never overwritten.
  int64_t insert_quality(const QualityRecord& q);
  std::vector<QualityRecord> quality_scores();

  // Read-only views for analysis and the import of published results (store/query.cpp).
  std::vector<ConfigView> config_views();
  std::vector<QualityView> quality_views();  // empty when the study has no quality scores
  int64_t add_published(const PublishedImport& p);
  std::vector<PublishedImport> published();

 private:
  friend Table export_table(Store& store, ExportTable which);
  friend struct StoreTestAccess;  // tests read the database directly
  Store(Database db, std::filesystem::path path, StudyLock lock = {})
      : lock_(std::move(lock)), db_(std::move(db)), path_(std::move(path)) {}
  StudyLock lock_;  // declared before db_: released after the connection is closed
  Database db_;
  std::filesystem::path path_;
};

// Current time as ISO 8601 UTC with milliseconds.
std::string utc_now();

}  // namespace eco::store
