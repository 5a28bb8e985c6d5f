#pragma once
// The dashboard's data: one JSON document built from one or more study databases, read-only.
// Every number is what a database holds, or is derived from it here by analysis/ (confidence
// intervals, Welch tests against fp16, the batch-size power law); nothing is filled in. Keys
// of configurations, runs and sessions are "DB:ID" (DB = index of the --db file), so several
// studies sit side by side.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace eco::report {

struct StudyOptions {
  // Power timelines inline (a self-contained report); the server leaves them out and serves
  // each run's timeline on request.
  bool include_timelines = true;
  // A run's timeline longer than this is thinned to every n-th sample (noted in the document).
  size_t max_timeline_points_per_run = 1500;
  // Past this many samples in all, further runs' timelines are left out (noted per database).
  size_t max_timeline_points_total = 300000;
};

// Metrics summarised per configuration (mean, sd, 95 % CI over the measured runs of the last
// round), in the order the dashboard offers them.
const std::vector<std::string>& config_metrics();

nlohmann::json build_study(const std::vector<std::filesystem::path>& databases,
                           const StudyOptions& options = {});

// One run's timeline as {"t": [...], "w": [...], "device": D or [...]} (one index when every sample
// is from the same device); throws eco::Error when the run does not exist.
nlohmann::json run_timeline(const std::filesystem::path& database, int64_t run_id);

}  // namespace eco::report
