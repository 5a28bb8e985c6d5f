#pragma once
// One configuration through the protocol: repetitions sized to the counter, stabilisation on
// the energy observable, warm-ups, measured runs until the CI is tight enough, CV gates and
// re-run rounds. Prefill and decode are metered in their own windows; decode is re-run from
// the saved post-prefill position k times inside its window. Every run is stored as soon as it
// completes (one transaction each).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bench/progress.h"
#include "bench/protocol.h"
#include "bench/round.h"
#include "engine/engine.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
struct WindowResult;
}  // namespace eco::meter

namespace eco::bench {

struct Workload {
  engine::Engine& engine;
  std::vector<std::vector<int32_t>> prompts;  // batch x prompt_len token ids
  int gen_len = 0;
  int64_t prompt_tokens() const;
  int64_t generated_tokens() const { return int64_t(prompts.size()) * gen_len; }
  int64_t decode_tokens() const { return int64_t(prompts.size()) * (gen_len - 1); }
  // One prefill of the prompts, or one greedy decode of gen_len tokens from the current
  // position, finished on the device when they return (a window may end right after).
  void prefill() const;
  void decode() const;
};

struct MeasureContext {
  store::Store& store;
  meter::Meter& meter;
  ProgressSink& progress;
  const ProtocolOptions& protocol;
  int64_t session_id = 0;
  int64_t config_id = 0;
  bool energy = false;    // the meter has GPU energy
  std::string run_flags;  // added to every run (e.g. "cpu-engine-gpu-meter")
  // The energy counter's update period (bench/counter_period.h); 0 when unknown, and then
  // windows are sized by the counter changes the sampler sees.
  double counter_period_s = 0;
  // Nothing ran on the GPU since a protocol window ended (bench/window.h): the next window may
  // start on the counter change that ended it. Work outside windows clears it.
  bool window_just_ended = false;
  // The engine holds the post-prefill position a decode window saved (a prefill clears it):
  // the next decode window can restore it instead of running a prefill outside any window.
  bool position_saved = false;
};

// How often each window repeats its phase. Direct decode: the decode window re-runs the same
// decode steps `decode` times from the saved post-prefill position. Derived (an engine that
// cannot restore its position): the second window holds `decode` whole runs and decode is
// their total minus the prefill window's share, flagged.
struct Repetitions {
  int prefill = 1;
  int decode = 1;
  bool direct_decode = true;
  // Sized by duration (a known counter period): each window's target and the length its last
  // sizing probe measured, seconds; 0 when sized by counted updates.
  double prefill_target_s = 0, prefill_probe_s = 0;
  double decode_target_s = 0, decode_probe_s = 0;
  // Sized by duration with prefill timed on the host clock (its window is then not metered
  // before the runs; prefill_probe_s is k x its time) and decode metered; seconds per
  // repetition of each.
  bool timed = false;
  double prefill_rep_s = 0, decode_rep_s = 0;
  // The decode sizing window at the final k ran a stabilisation window's work: its observable
  // (decode J/token) is stabilisation's first value. NaN when there is none.
  double sizing_window_value = std::numeric_limits<double>::quiet_NaN();
  double sizing_window_start_s = 0;  // steady clock: stabilisation's seconds count from here
};

struct GateRound {
  int round = 0;
  int n = 0;         // measured runs of the round that count (the set-aside ones excluded)
  int measured = 0;  // every measured run of the round, the set-aside ones included
  // What the trend and outlier rules did (bench/round.h): positions in the round.
  std::vector<TrendDrop> trend_drops;
  Trend trend;  // of decode J/token over the runs that count
  std::optional<size_t> outlier_rejected;
  int outliers_found = 0;
  bool outlier_remeasured = false;  // one extra run was measured for a rejected outlier
  double cv_decode_tok_s = 0;
  double cv_decode_j_per_token = 0;  // NaN when energy is not measured
  double ci_decode_tok_s = 0;        // 95 % CI half-width / mean
  double ci_decode_j_per_token = 0;
  bool throughput_ok = false;
  bool energy_ok = false;  // true when not evaluated
  std::string fault;       // energy readings failed in a run (e.g. the GPU was lost)
  bool passed() const { return throughput_ok && energy_ok && fault.empty(); }
};

// The trend and outlier rules' record of a round, for the gate JSON and the gate event.
nlohmann::json set_aside_json(const GateRound& g);

struct ConfigOutcome {
  store::GateOutcome gate = store::GateOutcome::None;
  int rounds = 0;
  Repetitions reps;
  std::vector<GateRound> gate_rounds;
  std::vector<store::RunRecord> final_runs;  // measured runs of the last round that count
  std::string fault;                         // the first energy fault seen, if any
};

// Deterministic prompts: batch sequences of prompt_len ids in [0, vocab), seeded.
std::vector<std::vector<int32_t>> make_prompts(int batch, int prompt_len, int vocab, uint64_t seed);

// The repetitions a window of `phase_s` seconds needs to span `min_updates` counter updates at
// `updates_per_s` (unknown when 0), never fewer than the sampler could see, capped.
int repetitions_for(double phase_s, double updates_per_s, const ProtocolOptions& p);

// True when the 95 % CI half-width of `xs` is within `target` of its mean (n >= 2).
bool ci_within(const std::vector<double>& xs, double target);
// The 95 % CI half-width of `xs` relative to its mean; NaN for fewer than two finite values.
double relative_ci_half_width(const std::vector<double>& xs);

// Sizes the windows of a run on the configuration's own workload (bench/sizing.cpp: timed
// phases and unstored probe windows).
Repetitions size_repetitions(MeasureContext& ctx, Workload& w);

// Every device of the window gave an energy figure.
bool window_readable(const meter::WindowResult& r);
// A decode window's energy per token: net of idle, gross without a baseline.
double decode_j_per_token(const meter::WindowResult& r, double tokens);

// Brings the engine to the post-prefill position a decode window starts from: the one the last
// decode window saved (no work outside the windows), else a prefill, which is GPU work outside
// any window, so the next window waits for a counter change of its own.
void to_post_prefill_position(MeasureContext& ctx, Workload& w);

// One run: prefill and decode windows with `reps` repetitions. Not stored. `fault`, when
// given, receives what went wrong with the energy readings (empty when nothing did); the run
// is then flagged energy-fault.
store::RunRecord execute_run(MeasureContext& ctx, Workload& w, const Repetitions& reps,
                             bool keep_timeline, std::string* fault = nullptr);

// k decodes in one metered window named `name`, each from the batch's current position (saved
// first, restored before every repetition after the first): the direct decode window of a run,
// of a sizing probe and of stabilisation.
meter::WindowResult decode_window(MeasureContext& ctx, Workload& w, int k, const std::string& name);

enum class Stabilisation { Disabled, Stable, CapReached, Fault };
std::string_view to_string(Stabilisation s);

// Runs the measured workload until its energy per token settles (see ProtocolOptions);
// records the outcome as a protocol event and returns it.
Stabilisation stabilise(MeasureContext& ctx, Workload& w, const Repetitions& reps);

ConfigOutcome measure_configuration(MeasureContext& ctx, Workload& w);

// Summary statistics of `runs` for every metric in store::summary_metrics().
std::vector<store::StatRecord> summarize_runs(const std::vector<store::RunRecord>& runs, int round);

}  // namespace eco::bench
