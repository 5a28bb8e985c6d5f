#pragma once
// Read-only access to a whole study for reports and the dashboard server. The file is opened
// with SQLITE_OPEN_READONLY, so nothing a reader does can change it; studies of any schema
// version this build knows are accepted, and tables added by later migrations (quality scores,
// imported published results) are read only where they exist.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/export.h"
#include "store/records.h"
#include "store/sqlite.h"

namespace eco::store {

struct SessionRow {
  int64_t id = 0;
  Session session;
};

struct ModelRow {
  int64_t id = 0;
  ModelRecord model;
};

struct FormatRow {
  int64_t id = 0;
  FormatRecord format;
};

struct ConfigRow {
  ConfigRecord config;
  std::optional<int64_t> session_id;
  std::string started_at, finished_at;  // empty until set
};

struct ConfigStatRow {
  int64_t config_id = 0;
  StatRecord stat;
};

struct EventRow {
  int64_t id = 0;
  std::optional<int64_t> session_id, config_id;
  std::string step, at, outcome, details_json;
  double seconds = kNotMeasured;
};

struct FailureRow {
  std::optional<int64_t> config_id;
  std::string at, stage, error;
};

class StudyReader {
 public:
  // Throws eco::Error naming the file when it is missing, not an ecocompute study, corrupt, or
  // of a newer schema than this build understands.
  explicit StudyReader(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const { return version_; }
  bool has_table(std::string_view name);

  std::vector<SessionRow> sessions();
  std::vector<ModelRow> models();
  std::vector<FormatRow> formats();
  std::vector<ConfigRow> configs();
  std::vector<ConfigStatRow> config_stats();
  // Every run of the study with its phases (no timelines), ordered by configuration, round,
  // warm-ups first, index.
  std::vector<RunRecord> runs();
  bool has_run(int64_t run_id);
  std::vector<TimelineSample> timeline(int64_t run_id);
  // Timelines of every run, keyed by run id (for a self-contained report).
  std::map<int64_t, std::vector<TimelineSample>> timelines();
  int64_t timeline_samples();
  std::vector<EventRow> events();
  std::vector<FailureRow> failures();
  // A whole table as generic rows (every column, in rowid order); empty when the table does not
  // exist in this study. For tables whose layout other parts of ecocompute own.
  Table table(std::string_view name);

 private:
  Database db_;
  std::filesystem::path path_;
  int version_ = 0;
};

}  // namespace eco::store
