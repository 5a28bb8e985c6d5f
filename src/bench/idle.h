#pragma once
// The study's idle baseline: metered once before the first configuration and subtracted from
// every window after it; re-metered every ProtocolOptions::idle_recheck_s between
// configurations and once at the end, each re-check recorded with its drift from the baseline
// (the baseline itself stays, so every configuration is net of the same idle power).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/progress.h"
#include "bench/protocol.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

// Relative drift per device, (now - baseline) / baseline; NaN where either is unknown.
std::vector<double> idle_drift(const std::vector<double>& baseline, const std::vector<double>& now);

class IdleBaseline {
 public:
  IdleBaseline(meter::Meter& meter, store::Store& store, ProgressSink& progress,
               const ProtocolOptions& protocol, int64_t session_id, bool energy);

  // Meters the baseline (when energy is measured and idle_seconds > 0).
  void measure();
  // Takes a baseline metered earlier instead (recorded as the event idle-baseline with outcome
  // "reused" and `from`, where it was metered); meters one when `watts` does not cover every
  // device.
  void adopt(const std::vector<double>& watts, const std::string& from);
  // Between configurations: re-checks when idle_recheck_s has passed since the last metering.
  void maybe_recheck();
  // At the end of the sweep: one last re-check.
  void finish();

 private:
  void recheck(const char* when);
  // Stores the event idle-baseline for baseline_ with `detail` (where it came from).
  void record_baseline(const char* outcome, double seconds,
                       const std::pair<const char*, std::string>& detail);
  meter::Meter& meter_;
  store::Store& store_;
  ProgressSink& progress_;
  const ProtocolOptions& protocol_;
  int64_t session_id_;
  bool enabled_;
  std::vector<double> baseline_;
  double last_ = 0;
};

}  // namespace eco::bench
