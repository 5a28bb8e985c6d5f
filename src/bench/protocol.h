#pragma once
// The measurement protocol: each step is named, configurable, and recorded with the results.
// docs/METHODOLOGY.md ("Protocol") defines every term used here.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace eco::bench {

// How the energy windows meet the GPU's energy counter: aligned windows start on a counter
// update and remove the tail after the work's end (the counter's quantization does not enter
// the figure); plain windows read the counter at the work's boundaries.
enum class WindowMode { Aligned, Plain };
std::string_view to_string(WindowMode m);

struct ProtocolOptions;
// The counter updates a prefill window needs: prefill_counter_updates when set, else half the
// decode window's, at least one; none without a minimum window.
int prefill_min_counter_updates(const ProtocolOptions& p);

struct ProtocolOptions {
  // Idle baseline: the GPU's mean power while nothing runs, metered once per study (before the
  // first configuration), subtracted (x duration) from every window (net energy), and
  // re-metered every idle_recheck_s and at the end of the sweep; the drift is recorded.
  double idle_seconds = 10;
  double idle_recheck_s = 600;  // 0: re-check at the end only
  // Stabilisation: the configuration's own measured workload runs (discarded) until two
  // successive windows' decode J/token (tok/s without energy) agree within
  // stabilise_tolerance and the temperature rises less than stabilise_max_slope_c_per_min,
  // for at most stabilise_max_s. The temperature trend is the least-squares slope of the
  // timeline's readings over the trailing stabilise_slope_span_s. 0 max disables the step.
  double stabilise_tolerance = 0.01;
  double stabilise_max_slope_c_per_min = 5.0;
  double stabilise_slope_span_s = 10;  // the trend's window (readings are 1 C steps)
  double stabilise_max_s = 30;
  int warmup = 1;  // warm-up runs per round, stored flagged and excluded from statistics
  // Adaptive repetitions: at least `runs` measured runs, then more until the 95 % CI of decode
  // J/token and of decode tok/s is within ci_target of its mean (half-width), at most max_runs.
  // runs = max_runs = 1 measures one run: no CV, so the gates are not evaluated.
  int runs = 5;
  int max_runs = 30;
  double ci_target = 0.01;
  // Minimum window: every decode window must see at least this many energy-counter updates,
  // every prefill window half as many (prefill J/token is not gated); a shorter phase is
  // repeated k times inside one window (energy and time divided by k). Measured on an H200
  // (docs/BENCHMARKS.md): the GPU's power itself wanders by about 2 % between half-second
  // windows of identical work, 0.5-1.4 % between one-second windows, so 10 updates (1 s on a
  // 100 ms counter) is what lets the 2 % energy gate pass at the first attempt.
  int min_counter_updates = 10;
  // The prefill window's own minimum (0: half of min_counter_updates). Prefill J/token is not
  // gated, and at batch 1 a prefill is a few percent of a request's energy.
  int prefill_counter_updates = 0;
  int max_repetitions = 1000;
  // A decode window asked for by its length, seconds (0: none): the decode window lasts at
  // least this long whatever min_counter_updates asks (one steady-state window, as the ML.ENERGY
  // benchmark measures: decode_window_s = 60 with runs = max_runs = 1). It is sized from the
  // one-repetition probe with 5 % headroom, never probed at its full length.
  double decode_window_s = 0;
  WindowMode windows = WindowMode::Aligned;
  // Aligned windows back to back (prefill then decode, one run then the next, nothing run on
  // the GPU between them): a window begun at most this long after the counter change that ended
  // the previous one starts from that change instead of waiting up to a counter period for the
  // next (meter::WindowOptions). 0 (the default): every window waits for a change of its own.
  // Off until measured on a GPU: the shared change's head is taken off at NVML's power reading,
  // which an H200 refreshes only every ~100 ms (docs/METHODOLOGY.md, "Back to back").
  double reuse_change_s = 0;
  // Quality gates on the measured runs of a round, as coefficients of variation.
  double max_cv_decode_tok_s = 0.01;
  double max_cv_decode_j_per_token = 0.02;
  int max_reruns = 2;              // extra rounds after a failed gate
  double cooldown_s = 0;           // pause between configurations
  double sample_interval_s = 0.1;  // power timeline period (meter sampler)
  bool store_timeline = true;      // keep each run's power samples in power_timeline
  uint64_t prompt_seed = 1;        // seeds the synthetic prompt token ids

  nlohmann::json to_json() const;
  // Reads the keys present in `j` (names as in to_json); unknown keys, values of the wrong
  // type and integers out of range are errors naming `source` (checked before narrowing).
  static ProtocolOptions from_json(const nlohmann::json& j, const std::string& source);
  void validate() const;
};

}  // namespace eco::bench
