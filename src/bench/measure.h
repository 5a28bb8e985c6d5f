#pragma once
// One configuration through the protocol: thermal stabilisation, warm-ups, measured runs with
// prefill / decode / total windows (repeated k times when short), CV gates and re-run rounds.
// Every run is stored as soon as it completes (one transaction each).
#include <cstdint>
#include <string>
#include <vector>

#include "bench/progress.h"
#include "bench/protocol.h"
#include "engine/engine.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

struct Workload {
  engine::Engine& engine;
  std::vector<std::vector<int32_t>> prompts;  // batch x prompt_len token ids
  int gen_len = 0;
  int64_t prompt_tokens() const;
  int64_t generated_tokens() const { return int64_t(prompts.size()) * gen_len; }
  int64_t decode_tokens() const { return int64_t(prompts.size()) * (gen_len - 1); }
};

struct MeasureContext {
  store::Store& store;
  meter::Meter& meter;
  ProgressSink& progress;
  const ProtocolOptions& protocol;
  int64_t session_id = 0;
  int64_t config_id = 0;
  bool energy = false;    // the meter has GPU energy
  std::string run_flags;  // added to every run (e.g. "cpu-engine")
};

struct GateRound {
  int round = 0;
  double cv_decode_tok_s = 0;
  double cv_decode_j_per_token = 0;  // NaN when energy is not measured
  bool throughput_ok = false;
  bool energy_ok = false;  // true when not evaluated
  bool passed() const { return throughput_ok && energy_ok; }
};

struct ConfigOutcome {
  std::string gate;  // passed | passed-after-rerun | failed
  int rounds = 0;
  int k = 1;        // repetitions inside the prefill window (the shortest)
  int k_total = 1;  // whole runs inside the total window (decode = total - prefill when > 1)
  std::vector<GateRound> gate_rounds;
  std::vector<store::RunRecord> final_runs;  // measured runs of the last round
};

// Deterministic prompts: batch sequences of prompt_len ids in [0, vocab), seeded.
std::vector<std::vector<int32_t>> make_prompts(int batch, int prompt_len, int vocab, uint64_t seed);

// Runs the workload until the first device's temperature settles (see ProtocolOptions);
// records the step as a protocol event. Skipped without a temperature reading.
void stabilise(MeasureContext& ctx, Workload& w);

ConfigOutcome measure_configuration(MeasureContext& ctx, Workload& w);

// Summary statistics of `runs` for every metric in store::summary_metrics().
std::vector<store::StatRecord> summarize_runs(const std::vector<store::RunRecord>& runs, int round);

}  // namespace eco::bench
