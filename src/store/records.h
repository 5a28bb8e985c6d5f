#pragma once
// What the store keeps, as plain structs. Doubles use NaN for "not measured" (stored as NULL).
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eco::store {

inline constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

// Who ran what, where: one row per `bench` invocation (a resumed sweep adds a session).
struct Session {
  std::string started_at;  // ISO 8601 UTC
  std::string command;     // the command line
  std::string hostname, os, cpu;
  std::string gpu_name, gpu_uuid, gpu_driver;
  double gpu_power_limit_w = kNotMeasured;
  std::string cuda_version, cublas_version;  // empty when unknown
  std::string eco_version, eco_git_commit;
  std::string meter;  // which energy source was used, or why none
};

struct ModelRecord {
  std::string source;           // directory path, or "synthetic:SHAPE"
  std::string synthetic_shape;  // empty for a directory
  std::optional<int64_t> synthetic_seed;
  std::string config_json;
  std::string weights_sha256_json;  // {"file name": "hex digest", ...}
  int64_t parameter_count = 0;
};

struct FormatRecord {
  std::string name;
  std::string params_json;
};

struct ConfigKey {
  int64_t model_id = 0;
  int64_t format_id = 0;
  int batch = 1;
  int prompt_len = 0;
  int gen_len = 0;
  std::string device;
};

// A configuration's life: created pending, running while measured, then done (measured, its
// gate recorded) or failed (an error stopped it).
enum class ConfigStatus { Pending, Running, Done, Failed };
// The quality gate's verdict on a measured configuration; None until it is measured.
enum class GateOutcome { None, Passed, PassedAfterRerun, Failed, NotEvaluated };

// The names stored in the database and shown to users; parse_* fail on an unknown name.
std::string_view to_string(ConfigStatus s);
std::string_view to_string(GateOutcome g);
ConfigStatus parse_config_status(std::string_view name);
GateOutcome parse_gate_outcome(std::string_view name);

struct ConfigRecord {
  int64_t id = 0;
  ConfigKey key;
  std::string engine;
  std::string protocol_json;
  ConfigStatus status = ConfigStatus::Pending;
  GateOutcome gate = GateOutcome::None;
  std::string gate_json;  // per round CVs and thresholds
  int rounds = 0;
  std::string error;
  std::string energy_note;  // why energy was not measured, empty when it was
};

struct PhaseRecord {
  std::string name;  // prefill | decode | total
  double seconds = 0;
  int64_t tokens = 0;
  double gross_energy_j = kNotMeasured;
  double net_energy_j = kNotMeasured;
  double timeline_energy_j = kNotMeasured;
  double idle_power_w = kNotMeasured;
  double mean_power_w = kNotMeasured;
  double peak_power_w = kNotMeasured;
  double j_per_token = kNotMeasured;
  std::optional<int64_t> counter_updates;
  std::string flags;
};

struct TimelineSample {
  double t = 0;  // seconds since the start of the run's window
  int device = 0;
  double watts = kNotMeasured;
  double temp_c = kNotMeasured;
  double sm_clock_mhz = kNotMeasured;
  double mem_clock_mhz = kNotMeasured;
};

struct RunRecord {
  int64_t id = 0;
  int64_t config_id = 0;
  int round = 0;  // 0 = first pass, 1.. = gate re-run rounds
  int index = 0;  // within (round, warm-up or measured)
  bool warmup = false;
  int k = 1;  // repetitions inside each window; every per-run value is per single repetition
  int batch = 1;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t decode_tokens = 0;  // tokens computed by decode steps (generated minus the batch)
  double seconds = 0, prefill_seconds = 0, decode_seconds = 0;
  double prefill_tok_s = kNotMeasured, decode_tok_s = kNotMeasured;
  double mean_power_w = kNotMeasured, peak_power_w = kNotMeasured, idle_power_w = kNotMeasured;
  double gross_energy_j = kNotMeasured, net_energy_j = kNotMeasured;
  double j_per_token = kNotMeasured, j_per_1k_tokens = kNotMeasured, j_per_request = kNotMeasured;
  double prefill_j_per_token = kNotMeasured, decode_j_per_token = kNotMeasured;
  double host_energy_j = kNotMeasured;
  double temp_start_c = kNotMeasured, temp_end_c = kNotMeasured;
  double sm_clock_mhz = kNotMeasured, mem_clock_mhz = kNotMeasured;
  double counter_vs_timeline = kNotMeasured;  // (counter - timeline) / counter over the run
  std::string flags;                          // comma-separated, e.g. "short-window"
  std::vector<PhaseRecord> phases;
  std::vector<TimelineSample> timeline;
};

// Flags of measured runs the protocol set aside: kept in the store, excluded from every
// statistic (docs/METHODOLOGY.md, "Measured runs"): a run of a card still settling, and a lone
// outlier window that was re-measured.
inline constexpr std::string_view kRunUnsettled = "unsettled";
inline constexpr std::string_view kRunOutlierRejected = "outlier-rejected";
// True when `flags` (comma-separated) holds exactly `flag`.
inline bool has_flag(std::string_view flags, std::string_view flag) {
  while (!flags.empty()) {
    const size_t comma = flags.find(',');
    if (flags.substr(0, comma) == flag) return true;
    if (comma == std::string_view::npos) break;
    flags.remove_prefix(comma + 1);
  }
  return false;
}
inline bool set_aside(const RunRecord& r) {
  return has_flag(r.flags, kRunUnsettled) || has_flag(r.flags, kRunOutlierRejected);
}

struct StatRecord {
  std::string metric;
  int round = 0;
  int n = 0;
  double mean = kNotMeasured, sd = kNotMeasured, cv = kNotMeasured;
  double ci_low = kNotMeasured, ci_high = kNotMeasured;
};

struct ProtocolEvent {
  std::optional<int64_t> config_id;
  std::string step;  // idle-baseline | thermal-stabilisation | warmup | gate | cooldown | ...
  double seconds = kNotMeasured;
  std::string outcome;
  std::string details_json = "{}";
};

// A protocol event as stored, with the session and time that wrote it.
struct StoredEvent {
  int64_t session_id = 0;
  std::string at;
  std::string details_json;
};

}  // namespace eco::store
