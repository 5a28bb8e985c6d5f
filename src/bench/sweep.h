#pragma once
// A sweep: every configuration of a SweepSpec measured with the protocol and stored as it
// completes. run_sweep() is what `ecocompute bench` and `ecocompute run` call.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/plan.h"
#include "bench/progress.h"
#include "bench/sweep_spec.h"
#include "engine/engine.h"
#include "model/weights.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

struct SweepResult {
  int configurations = 0;
  int skipped = 0;  // already complete (resume)
  int done = 0;
  int failed = 0;
  int gates_passed = 0, gates_passed_after_rerun = 0, gates_failed = 0;
  int not_started = 0;      // left for a later sweep when SweepHooks::proceed said stop
  int energy_faults = 0;    // configurations whose energy readings failed (e.g. GPU lost)
  int model_loads = 0;      // model files loaded (once per model)
  int engines_built = 0;    // engines built (once per model and format where possible)
  std::string energy_note;  // why energy was not measured; empty when it was
  // The counter period the sweep used (measured or carried in), for a later sweep of the same
  // process to carry (SweepHooks::carried_counter_period_s); 0 when none.
  double counter_period_s = 0;
  bool ok() const { return failed == 0 && energy_faults == 0; }
};

// Seams for tests and embedders: how models are loaded and engines built, and the clock the
// ETA uses. Empty members take the defaults (model::load_model, engine::create_engine, the
// meter's clock).
struct SweepHooks {
  std::function<model::ModelWeights(const std::filesystem::path&)> load_model;
  std::function<std::unique_ptr<engine::Engine>(const model::ModelWeights&,
                                                const engine::EngineOptions&)>
      make_engine;
  std::function<double()> clock;
  // Which configurations of the cross product to measure (all when empty): a study measures a
  // union of parts in one sweep per model. Arguments: model source, format name as listed,
  // batch, prompt length, generation length.
  std::function<bool(const std::string&, const std::string&, int, int, int)> include;
  // Asked before each configuration is started (before its format's engine is built, for the
  // first of a format): false stops the sweep there, cleanly, as a time budget needs; the
  // configurations not started keep their state, and the final idle re-check still runs.
  std::function<bool(const PlannedConfig& next)> proceed;
  // Take the first idle baseline this store holds for the same GPU (an earlier sweep of the
  // study, in this process or an earlier one) instead of metering one, recorded as reused: a
  // study sweeps one model after another, over several calls, and idle metered right after GPU
  // work reads the card's warm rest power (124-129 W on an H200 against 81 W cold), so each
  // model would be net of a different idle. The re-checks record the drift from it.
  bool idle_from_store = false;
  // A counter period an earlier sweep of this process measured; 0: measure it.
  double carried_counter_period_s = 0;
};

// Runs the sweep into `store`. `meter` may be supplied (tests, embedders); otherwise one is
// built from the protocol options. Without --resume, a configuration already in the store is
// an error (the user chooses: --resume or a new --db). Failures of one configuration (out of
// memory, kernel errors, unsupported format) are recorded and the sweep continues.
SweepResult run_sweep(const SweepSpec& spec, store::Store& store, ProgressSink& progress,
                      meter::Meter* meter = nullptr, const SweepHooks& hooks = {});

}  // namespace eco::bench
