#pragma once
// The in-process protocol tests' common start: a fresh temporary folder for the study and the
// sweep of one configuration of the tiny synthetic model on the CPU engine, which each test
// then gives its own protocol.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/protocol.h"
#include "bench/sweep_spec.h"
#include "ecocompute/meter.h"
#include "meter/scripted_sensor.h"

namespace eco::bench {

// temp/eco_<name>_<pid>, emptied; the synthetic model cache is shared by the tests.
inline std::filesystem::path fresh_test_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_{}_{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
  return dir;
}

// synthetic:tiny in fp32 at batch 1, an 8-token prompt and `gen_len` new tokens, on the CPU.
inline SweepSpec tiny_cpu_sweep(int gen_len) {
  SweepSpec spec;
  spec.models = {"synthetic:tiny"};
  spec.formats = {"fp32"};
  spec.batches = {1};
  spec.prompt_lens = {8};
  spec.gen_lens = {gen_len};
  spec.device = "cpu";
  return spec;
}

// A meter over one scripted GPU drawing `watts` whose energy counter updates every `period_s`,
// sampled as the protocol asks (no host sensor).
inline std::unique_ptr<meter::Meter> scripted_gpu_meter(const ProtocolOptions& p, double watts,
                                                        double period_s) {
  meter::ScriptedDevice d;
  d.power = {{0.0, watts}};
  d.counter_period_s = period_s;
  meter::MeterOptions mo;
  mo.interval_s = p.sample_interval_s;
  mo.min_counter_updates = p.min_counter_updates;
  mo.use_host = false;
  return std::make_unique<meter::Meter>(
      mo, std::make_unique<meter::ScriptedSensor>(std::vector<meter::ScriptedDevice>{d}));
}

// Exactly `runs` measured runs: no stabilisation, warm-up or re-run round (tests about what the
// windows and runs record, not about the protocol's adaptive steps).
inline void fixed_runs(ProtocolOptions& p, int runs) {
  p.stabilise_max_s = 0;
  p.warmup = 0;
  p.runs = p.max_runs = runs;
  p.max_reruns = 0;
}

}  // namespace eco::bench
