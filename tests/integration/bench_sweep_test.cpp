// The sweep's protocol in-process: windows that survive a throwing workload, resume rules,
// one model load and one engine per format, the direct decode window, adaptive repetitions,
// the study's idle baseline and the stabilisation record. CPU engine, tiny synthetic model, a
// GPU sensor whose power the test steers.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/sweep.h"
#include "common/error.h"
#include "engine/cpu/cpu_engine.h"
#include "integration/steered_sensor.h"
#include "integration/watched_engine.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class BenchSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_sweep_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
    spec_.models = {"synthetic:tiny"};
    spec_.formats = {"fp32"};
    spec_.batches = {1, 2};
    spec_.prompt_lens = {8};
    spec_.gen_lens = {4};
    spec_.device = "cpu";
    auto& p = spec_.protocol;
    p.idle_seconds = 0.02;
    p.stabilise_max_s = 0.02;
    p.warmup = 1;
    p.runs = p.max_runs = 2;
    p.min_counter_updates = 3;
    p.sample_interval_s = 0.001;
    p.max_cv_decode_tok_s = 10.0;  // timing on a shared CI core is not what these tests gate
    p.max_cv_decode_j_per_token = 1.0;
    p.max_reruns = 0;
    auto sensor = std::make_unique<SteeredSensor>();
    sensor_ = sensor.get();
    meter::MeterOptions mo;
    mo.interval_s = p.sample_interval_s;
    mo.min_counter_updates = p.min_counter_updates;
    meter_ = std::make_unique<meter::Meter>(mo, std::move(sensor));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Engines that call `before` first on every call.
  SweepHooks watched(std::function<void(const char*)> before) {
    SweepHooks h;
    h.make_engine = [before](const model::ModelWeights& w, const engine::EngineOptions& o) {
      return std::make_unique<WatchedEngine>(engine::create_engine(w, o), before);
    };
    return h;
  }

  int events(store::Store& st, const std::string& where) {
    return int(test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE " + where));
  }

  fs::path dir_;
  SweepSpec spec_;
  SteeredSensor* sensor_ = nullptr;
  std::unique_ptr<meter::Meter> meter_;
};

// Knows whether a measured (not warm-up) run is under way.
class RunTracker final : public ProgressSink {
 public:
  bool measuring = false;
  void run_started(const RunLabel& label, int) override { measuring = !label.warmup; }
  void config_finished(const std::string&, store::ConfigStatus, const std::string&) override {
    measuring = false;
  }
};

// A workload that throws inside a window (out of memory at a large batch, a kernel error) fails
// its configuration only: the window is cancelled, and the next configurations, on the same
// meter, measure normally. Every window the protocol opens is tried: the decode sizing window,
// stabilisation's, and prefill and decode at their first opening and during a measured run
// (aligned windows with a known counter period time prefill on the host clock: no prefill
// probe window).
TEST_F(BenchSweep, WindowsAreCancelledWhenTheWorkInsideThrows) {
  const std::vector<std::string> names = {"probe-decode", "stabilisation", "prefill", "decode"};
  spec_.formats = {"fp32", "bf16"};
  int db = 0;
  for (const auto& name : names)
    for (bool in_measured_run : {false, true}) {
      if (in_measured_run && (name == "probe-decode" || name == "stabilisation")) continue;
      RunTracker tracker;
      bool thrown = false;
      auto hooks = watched([&](const char*) {
        if (thrown || !meter_->is_open(name) || (in_measured_run && !tracker.measuring)) return;
        thrown = true;
        throw Error(fmt::format("scripted failure inside window {}", name));
      });
      const std::string what = fmt::format("{} (measured run: {})", name, in_measured_run);
      auto st = store::Store::open(dir_ / fmt::format("s{}.db", db++));
      const auto res = run_sweep(spec_, st, tracker, meter_.get(), hooks);
      ASSERT_TRUE(thrown) << what;
      EXPECT_EQ(res.failed, 1) << what;
      EXPECT_EQ(res.done, 3) << what;
      for (const auto& n : names) EXPECT_FALSE(meter_->is_open(n)) << what;
      const auto configs = st.configs();
      ASSERT_EQ(configs.size(), 4u);
      EXPECT_EQ(configs[0].status, store::ConfigStatus::Failed) << what;
      EXPECT_THAT(configs[0].error, HasSubstr("scripted failure inside window " + name));
      for (size_t i = 1; i < configs.size(); ++i)
        EXPECT_EQ(configs[i].status, store::ConfigStatus::Done) << what << configs[i].error;
    }
}

TEST_F(BenchSweep, ResumeRetriesFailedConfigurationsUnlessAskedNotTo) {
  ProgressSink quiet;
  auto st = store::Store::open(dir_ / "s.db");
  // Batch 2 fails the first time (a transient fault), then the fault is gone.
  auto failing = watched([](const char*) {});
  failing.make_engine = [](const model::ModelWeights& w,
                           const engine::EngineOptions& o) -> std::unique_ptr<engine::Engine> {
    if (o.max_batch == 2) fail("scripted transient failure");
    return engine::create_engine(w, o);
  };
  spec_.formats = {"fp32", "bf16"};
  auto first = run_sweep(spec_, st, quiet, meter_.get(), failing);
  EXPECT_EQ(first.failed, 2);
  spec_.resume = true;
  spec_.retry_failed = false;
  auto kept = run_sweep(spec_, st, quiet, meter_.get());
  EXPECT_EQ(kept.skipped, 4);
  EXPECT_EQ(kept.done, 0);
  spec_.retry_failed = true;
  auto retried = run_sweep(spec_, st, quiet, meter_.get());
  EXPECT_EQ(retried.skipped, 2);
  EXPECT_EQ(retried.done, 2);
  EXPECT_EQ(retried.failed, 0);
  for (const auto& c : st.configs()) EXPECT_EQ(c.status, store::ConfigStatus::Done);
}

TEST_F(BenchSweep, EachModelLoadsOnceAndEachFormatIsQuantizedOnce) {
  ProgressSink quiet;
  int loads = 0;
  SweepHooks hooks;
  hooks.load_model = [&](const fs::path& dir) {
    ++loads;
    return model::load_model(dir);
  };
  std::vector<engine::EngineOptions> built;
  hooks.make_engine = [&](const model::ModelWeights& w, const engine::EngineOptions& o) {
    built.push_back(o);
    return engine::create_engine(w, o);
  };
  spec_.formats = {"fp32", "nf4"};
  spec_.batches = {4, 1, 2};
  spec_.gen_lens = {3, 4};
  auto st = store::Store::open(dir_ / "s.db");
  const auto res = run_sweep(spec_, st, quiet, meter_.get(), hooks);
  EXPECT_EQ(res.done, 12);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(res.model_loads, 1);
  ASSERT_EQ(built.size(), 2u);  // one engine per format, for the largest batch and context
  EXPECT_EQ(res.engines_built, 2);
  for (const auto& o : built) {
    EXPECT_EQ(o.max_batch, 4);
    EXPECT_EQ(o.max_context, 8 + 4);
  }
  EXPECT_EQ(built[0].format.name(), "fp32");
  EXPECT_EQ(built[1].format.name(), "nf4");
}

// Energy steered by what the engine does, not by the clock: every prefill costs 3 J, every
// decode 1 J, and nothing else moves the counter. The prefill and decode windows then hold
// exactly their own work's energy per repetition whatever the host's load: a prefill inside the
// decode window would add 3 J to it, a decode inside the prefill window 1 J. (Power set per
// phase instead would charge the window's edges with whatever the sampler's reads happened to
// straddle, which a loaded host stretches to milliseconds.)
TEST_F(BenchSweep, DecodeWindowHoldsDecodeEnergyOnly) {
  ProgressSink quiet;
  spec_.batches = {2};
  spec_.gen_lens = {16};
  spec_.protocol.idle_seconds = 0;
  // Plain windows read the counter at the work's boundaries; aligned ones would wait for a
  // change that only the work makes. Aligned windows have their own tests.
  spec_.protocol.windows = WindowMode::Plain;
  sensor_->set_watts(0.0);
  int prefills = 0, decodes = 0;
  auto hooks = watched([&](const char* call) {
    const std::string c(call);
    if (c == "prefill") ++prefills, sensor_->charge(3.0);
    if (c == "decode" || c == "decode_greedy") ++decodes, sensor_->charge(1.0);
  });
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, quiet, meter_.get(), hooks);
  ASSERT_GT(prefills, 0);
  ASSERT_GT(decodes, 0);
  const auto cfg = st.configs().at(0);
  const auto runs = st.runs(cfg.id);
  ASSERT_FALSE(runs.empty());
  for (const auto& r : runs) {
    ASSERT_EQ(r.phases.size(), 3u);
    EXPECT_THAT(r.flags, HasSubstr("decode-direct"));
    const auto& pre = r.phases[0];
    const auto& dec = r.phases[1];
    EXPECT_EQ(pre.name, "prefill");
    EXPECT_EQ(dec.name, "decode");
    // Per repetition (each window holds k of its phase), to the counter's resolution.
    EXPECT_NEAR(dec.gross_energy_j, 1.0, 1e-9) << r.flags;
    EXPECT_NEAR(pre.gross_energy_j, 3.0, 1e-9) << r.flags;
    EXPECT_NEAR(r.gross_energy_j, 4.0, 1e-9) << r.flags;
    EXPECT_NEAR(r.decode_j_per_token, 1.0 / double(r.decode_tokens), 1e-12);
  }
}

TEST_F(BenchSweep, AdaptiveRunsStopAtTheCiTargetOrTheCap) {
  ProgressSink quiet;
  spec_.batches = {1};
  spec_.protocol.runs = 3;
  spec_.protocol.max_runs = 9;
  spec_.protocol.ci_target = 1e-12;  // never reached: the cap
  auto st = store::Store::open(dir_ / "a.db");
  run_sweep(spec_, st, quiet, meter_.get());
  auto measured = [&](store::Store& s) {
    int n = 0;
    for (const auto& r : s.runs(s.configs().at(0).id)) n += !r.warmup;
    return n;
  };
  // The cap, plus the one extra run when the outlier rule re-measured a rejected run.
  const auto capped = nlohmann::json::parse(st.configs().at(0).gate_json);
  EXPECT_EQ(measured(st),
            9 + int(capped["rounds"][0]["set_aside"]["outlier_remeasured"].get<bool>()));
  spec_.protocol.ci_target = 1e9;  // reached at once: the minimum
  auto st2 = store::Store::open(dir_ / "b.db");
  run_sweep(spec_, st2, quiet, meter_.get());
  EXPECT_EQ(measured(st2), 3);
  const auto gate = nlohmann::json::parse(st2.configs().at(0).gate_json);
  EXPECT_EQ(gate["rounds"][0]["n"], 3);
  EXPECT_TRUE(gate["rounds"][0]["ci_decode_tok_s"].is_number());
  EXPECT_EQ(gate["decode"], "direct");
}

TEST_F(BenchSweep, OneIdleBaselinePerStudyRecheckedWithItsDrift) {
  ProgressSink quiet;
  spec_.formats = {"fp32", "bf16"};
  // Aligned idle windows: this sensor's counter changes at every read, so a change's time is
  // known to about a millisecond at each end, 1 % of 0.1 s.
  spec_.protocol.idle_seconds = 0.1;
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, quiet, meter_.get());
  EXPECT_EQ(events(st, "step = 'idle-baseline'"), 1);  // not one per model or configuration
  EXPECT_EQ(events(st, "step = 'idle-recheck'"), 1);   // at the end
  auto q =
      test_db(st).prepare("SELECT details_json FROM protocol_events WHERE step = 'idle-recheck'");
  ASSERT_TRUE(q.step());
  const auto d = nlohmann::json::parse(q.get_text(0));
  EXPECT_EQ(d["when"], "end");
  EXPECT_EQ(d["window"], "aligned");  // the protocol's windows: no counter quantisation
  EXPECT_NEAR(d["drift"][0].get<double>(), 0.0, 0.03);  // 100 W idle before and after
  // Every configuration is net of the first baseline.
  const double baseline = d["baseline_w"][0].get<double>();
  EXPECT_NEAR(baseline, 100.0, 3.0);
  for (const auto& c : st.configs())
    for (const auto& r : st.runs(c.id)) EXPECT_DOUBLE_EQ(r.idle_power_w, baseline);
  // With a re-check interval shorter than a configuration, one after each as well.
  spec_.protocol.idle_recheck_s = 1e-6;
  spec_.protocol.idle_seconds = 0.02;
  auto st2 = store::Store::open(dir_ / "t.db");
  run_sweep(spec_, st2, quiet, meter_.get());
  EXPECT_EQ(events(st2, "step = 'idle-recheck'"), 4 + 1);
}

TEST_F(BenchSweep, StabilisationSettlesOnSteadyEnergyAndIsRecorded) {
  ProgressSink quiet;
  spec_.batches = {1};
  spec_.protocol.stabilise_max_s = 30;       // the cap is not what ends it
  spec_.protocol.stabilise_tolerance = 0.5;  // loose: CPU timing is noisy, the power is steady
  spec_.protocol.stabilise_max_slope_c_per_min = 1.0;
  spec_.protocol.stabilise_slope_span_s = 0.05;  // the scripted temperature is constant
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, quiet, meter_.get());
  const auto ev = first_event(st, "stabilisation");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->outcome, "stable");
  const auto& d = ev->details;
  EXPECT_EQ(d["observable"], "decode_j_per_token");
  EXPECT_EQ(d["first_value"], "decode sizing window");
  // The observable's own window: decode from the saved position, no prefill window, no run.
  EXPECT_EQ(d["window"], "decode");
  EXPECT_GE(d["values"].size(), 2u);
  // Stabilisation warmed the configuration: round 0 stores no warm-up run and no stabilisation
  // window as a run.
  const auto cfg = st.configs().at(0);
  EXPECT_EQ(cfg.rounds, 1);
  for (const auto& r : st.runs(cfg.id)) EXPECT_FALSE(r.warmup);
  EXPECT_EQ(int(st.runs(cfg.id).size()), spec_.protocol.runs);
}

}  // namespace
}  // namespace eco::bench
