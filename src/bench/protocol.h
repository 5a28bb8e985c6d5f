#pragma once
// The measurement protocol: each step is named, configurable, and recorded with the results.
// docs/METHODOLOGY.md ("Protocol") defines every term used here.
#include <string>

#include <nlohmann/json.hpp>

namespace eco::bench {

struct ProtocolOptions {
  // Idle baseline: the GPU's mean power while nothing runs, metered before the sweep and
  // before each new model, then subtracted (x duration) from every window (net energy).
  double idle_seconds = 10;
  // Thermal stabilisation after a model is loaded: the workload runs (discarded) until the
  // temperature changed less than stabilise_delta_c over stabilise_window_s, at most
  // stabilise_max_s. 0 max disables the step.
  double stabilise_delta_c = 1.0;
  double stabilise_window_s = 10;
  double stabilise_max_s = 60;
  int warmup = 3;  // warm-up runs, stored flagged and excluded from statistics
  int runs = 10;   // measured runs per round
  // Minimum window: every metered window must see at least this many energy-counter updates;
  // a shorter run is repeated k times inside one window (energy and time divided by k).
  int min_counter_updates = 10;
  int max_repetitions = 1000;
  // Quality gates on the measured runs of a round, as coefficients of variation.
  double max_cv_decode_tok_s = 0.02;
  double max_cv_decode_j_per_token = 0.03;
  int max_reruns = 2;              // extra rounds after a failed gate
  double cooldown_s = 0;           // pause between configurations
  double sample_interval_s = 0.1;  // power timeline period (meter sampler)
  bool store_timeline = true;      // keep each run's power samples in power_timeline
  uint64_t prompt_seed = 1;        // seeds the synthetic prompt token ids

  nlohmann::json to_json() const;
  // Reads the keys present in `j` (names as in to_json); unknown keys are errors naming
  // `source`. Validates ranges.
  static ProtocolOptions from_json(const nlohmann::json& j, const std::string& source);
  void validate() const;
};

}  // namespace eco::bench
