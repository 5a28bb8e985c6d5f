// Aligned windows sized by the counter's measured period: the sweep measures the period once
// (event counter-period) and each window lasts N periods, not N sampler intervals. CPU engine,
// tiny synthetic model, a scripted GPU whose counter updates every 30 ms while the sampler
// reads every 10 ms.
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/sweep.h"
#include "ecocompute/meter.h"
#include "integration/steered_sensor.h"
#include "integration/tiny_sweep.h"
#include "integration/watched_engine.h"
#include "meter/scripted_sensor.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

constexpr double kPeriod = 0.03;

TEST(WindowSizing, AlignedWindowsLastTheirUpdatesOfTheMeasuredCounterPeriod) {
  const fs::path dir = fresh_test_dir("sizing");
  SweepSpec spec = tiny_cpu_sweep(8);
  auto& p = spec.protocol;
  p.idle_seconds = 0.05;
  fixed_runs(p, 4);
  p.min_counter_updates = 6;
  p.sample_interval_s = 0.01;
  p.max_cv_decode_tok_s = p.max_cv_decode_j_per_token = 10.0;  // not what this test checks
  const auto meter = scripted_gpu_meter(p, 200.0, kPeriod);
  ProgressSink quiet;
  auto st = store::Store::open(dir / "s.db");
  run_sweep(spec, st, quiet, meter.get());

  const auto ev = first_event(st, "counter-period");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->outcome, "measured");
  const double period = ev->details["period_s"].get<double>();
  EXPECT_NEAR(period, kPeriod, 0.003);
  // Each window was sized to N periods (3 for prefill, 6 for decode; N sampler intervals would
  // have been 30 and 60 ms) and its last sizing probe lasted at least that long.
  const auto cfg = st.configs().at(0);
  const auto sizing = nlohmann::json::parse(cfg.gate_json)["window_sizing"];
  ASSERT_TRUE(sizing.is_object()) << cfg.gate_json;
  EXPECT_NEAR(sizing["prefill_target_s"].get<double>(), 3 * period, 1e-9);
  EXPECT_NEAR(sizing["decode_target_s"].get<double>(), 6 * period, 1e-9);
  EXPECT_GE(sizing["prefill_probe_s"].get<double>(), 3 * period) << cfg.gate_json;
  EXPECT_GE(sizing["decode_probe_s"].get<double>(), 6 * period) << cfg.gate_json;
  // The measured runs keep about that length: well above the 60 ms that N sampler intervals
  // would give (loose: the CPU engine's decode time moves by up to 2x on a busy 2-core host
  // between the sizing window and the runs).
  double total = 0;
  const auto runs = st.runs(cfg.id);
  for (const auto& r : runs) {
    ASSERT_EQ(r.phases.size(), 3u);
    const auto& ph = r.phases[1];
    const size_t at = ph.flags.find("k=");
    total += ph.seconds * (at == std::string::npos ? 1 : std::stoi(ph.flags.substr(at + 2)));
  }
  EXPECT_GE(total / runs.size(), 0.5 * 6 * period) << cfg.gate_json;
  fs::remove_all(dir);
}

// With a known period prefill is timed on the host clock, so no prefill window is metered
// before the runs; decode is metered at one repetition and then at its k, and that last window
// ran the stabilisation window's work, so it is stabilisation's first value. Each decode
// charges the same energy (the power itself is negligible), so every window's decode J/token is
// that charge per token: stabilisation agrees after one window of its own.
TEST(WindowSizing, PrefillIsTimedAndTheDecodeSizingWindowIsStabilisationsFirst) {
  const fs::path dir = fresh_test_dir("timed_sizing");
  SweepSpec spec = tiny_cpu_sweep(8);
  auto& p = spec.protocol;
  p.idle_seconds = 0.02;
  p.stabilise_max_s = 30;  // agreement ends it, not the cap
  p.stabilise_slope_span_s = 0.05;
  p.warmup = 0;
  p.runs = p.max_runs = 2;
  p.min_counter_updates = 4;
  p.sample_interval_s = 0.005;
  p.max_cv_decode_tok_s = p.max_cv_decode_j_per_token = 10.0;  // not what this test checks
  p.max_reruns = 0;
  auto sensor = std::make_unique<SteeredSensor>();
  sensor->set_watts(1e-6);  // the counter still changes on every read
  SteeredSensor* s = sensor.get();
  meter::MeterOptions mo;
  mo.interval_s = p.sample_interval_s;
  mo.min_counter_updates = p.min_counter_updates;
  mo.use_host = false;
  meter::Meter meter(mo, std::move(sensor));
  constexpr double kPerDecodeJ = 2.0;
  bool prefill_probe_window = false;
  int sizing_decodes = 0;  // decodes inside the decode sizing window
  SweepHooks hooks;
  hooks.make_engine = [&](const model::ModelWeights& w, const engine::EngineOptions& o) {
    return std::make_unique<WatchedEngine>(engine::create_engine(w, o), [&](const char* call) {
      const std::string c = call;
      if (c == "prefill" && meter.is_open("probe-prefill")) prefill_probe_window = true;
      if (c == "decode_greedy" && meter.is_open("probe-decode")) ++sizing_decodes;
      if (c == "decode_greedy") s->charge(kPerDecodeJ);
    });
  };
  ProgressSink quiet;
  auto st = store::Store::open(dir / "s.db");
  run_sweep(spec, st, quiet, &meter, hooks);
  const auto cfg = st.configs().at(0);
  ASSERT_EQ(cfg.status, store::ConfigStatus::Done) << cfg.error;
  const auto gate = nlohmann::json::parse(cfg.gate_json);
  const auto sizing = gate["window_sizing"];
  EXPECT_EQ(sizing["method"], "timed-prefill");
  EXPECT_FALSE(prefill_probe_window);
  EXPECT_GE(sizing_decodes, gate["k_decode"].get<int>());
  const double prefill_rep = sizing["prefill_rep_s"].get<double>();
  EXPECT_GT(prefill_rep, 0);
  EXPECT_NEAR(sizing["prefill_probe_s"].get<double>(), gate["k_prefill"].get<int>() * prefill_rep,
              1e-12);
  EXPECT_GE(sizing["decode_probe_s"].get<double>(), sizing["decode_target_s"].get<double>());

  const auto ev = first_event(st, "stabilisation");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->outcome, "stable");
  const auto& d = ev->details;
  EXPECT_EQ(d["first_value"], "decode sizing window");
  ASSERT_EQ(d["values"].size(), 2u) << d.dump();
  const double per_token = kPerDecodeJ / double(spec.gen_lens[0] - 1);
  EXPECT_NEAR(d["values"][0].get<double>(), per_token, 1e-6 * per_token);
  EXPECT_NEAR(d["values"][1].get<double>(), per_token, 1e-6 * per_token);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eco::bench
