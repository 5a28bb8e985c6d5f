// The trend and outlier rules through a whole sweep: CPU engine, tiny synthetic model, a GPU
// sensor whose energy each decode charges from a per-run script (power itself 0 W), so every
// run's decode J/token is exactly the scripted figure whatever the host's timing. Timing only
// decides where a round stops on its throughput CI, and every assertion here holds wherever
// that is: both rules look after every run, before the CI does.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/sweep.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "integration/steered_sensor.h"
#include "integration/tiny_sweep.h"
#include "integration/watched_engine.h"
#include "meter/scripted_sensor.h"
#include "report/study.h"
#include "store/export.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

// Decode J/token the script gives each measured run of round 0 (warm-ups and other rounds get
// the settled figure).
using Script = std::function<double(int index)>;

constexpr double kSettled = 1.0;  // J per decode token of the settled card
// The settled card's own spread: +-0.3 % in a fixed cycle (CV about 0.25 %), no trend.
double settled(int i) {
  static const double cycle[] = {0.0, 0.003, -0.003, 0.002, -0.002, 0.001, -0.001};
  return kSettled * (1 + cycle[i % 7]);
}

// Sets the joules each decode charges from the run about to start.
class ScriptSteering final : public ProgressSink {
 public:
  ScriptSteering(std::atomic<double>& per_decode, Script s, double decode_tokens)
      : per_decode_(per_decode), script_(std::move(s)), tokens_(decode_tokens) {}
  void run_started(const RunLabel& l, int) override {
    per_decode_ = tokens_ * (l.round == 0 && !l.warmup ? script_(l.index) : settled(l.index));
  }

 private:
  std::atomic<double>& per_decode_;
  Script script_;
  double tokens_;
};

class BenchPrecision : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_precision_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
    spec_ = tiny_cpu_sweep(4);
    auto& p = spec_.protocol;
    p.idle_seconds = 0.02;
    p.stabilise_max_s = 0;
    p.warmup = 1;
    p.runs = 5;
    p.max_runs = 12;
    p.ci_target = 0.01;
    p.min_counter_updates = 0;  // one decode per window: its energy is the scripted charge
    p.windows = WindowMode::Plain;
    p.sample_interval_s = 0.005;
    p.max_cv_decode_tok_s = 10.0;        // the CPU's timing is not what these tests gate
    p.max_cv_decode_j_per_token = 0.01;  // the precision target, not the 2 % default
    p.max_reruns = 0;                    // one round: the gate's verdict on it is the result
    p.store_timeline = false;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the sweep with decode J/token scripted per run; returns the configuration.
  store::ConfigRecord run(const Script& script) {
    auto sensor = std::make_unique<SteeredSensor>();
    sensor->set_watts(0);
    SteeredSensor* s = sensor.get();
    meter::MeterOptions mo;
    mo.interval_s = spec_.protocol.sample_interval_s;
    mo.min_counter_updates = 1;
    mo.use_host = false;
    meter::Meter meter(mo, std::move(sensor));
    SweepHooks hooks;
    hooks.make_engine = [&](const model::ModelWeights& w, const engine::EngineOptions& o) {
      return std::make_unique<WatchedEngine>(engine::create_engine(w, o), [&, s](const char* c) {
        if (std::string(c) != "decode_greedy") return;
        s->charge(per_decode_);
        if (decode_sleep_ms_ > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(decode_sleep_ms_));
      });
    };
    const double decode_tokens = spec_.batches[0] * (spec_.gen_lens[0] - 1);
    ScriptSteering steering(per_decode_, script, decode_tokens);
    store_.emplace(store::Store::open(dir_ / "s.db"));
    run_sweep(spec_, *store_, steering, &meter, hooks);
    return store_->configs().at(0);
  }

  std::vector<store::RunRecord> measured_runs(const store::ConfigRecord& c) {
    std::vector<store::RunRecord> out;
    for (auto& r : store_->runs(c.id, false))
      if (!r.warmup) out.push_back(std::move(r));
    return out;
  }

  double stat(const store::ConfigRecord& c, const char* metric, int* n = nullptr) {
    for (const auto& s : store_->stats(c.id))
      if (s.metric == metric) {
        if (n) *n = s.n;
        return s.mean;
      }
    ADD_FAILURE() << "no statistic " << metric;
    return NAN;
  }

  nlohmann::json set_aside(const store::ConfigRecord& c) {
    return nlohmann::json::parse(c.gate_json)["rounds"][0]["set_aside"];
  }

  fs::path dir_;
  SweepSpec spec_;
  std::atomic<double> per_decode_{0};
  int decode_sleep_ms_ = 0;  // a decode's least length, for tests about window length
  std::optional<store::Store> store_;
};

bool flagged(const store::RunRecord& r, std::string_view flag) {
  return store::has_flag(r.flags, flag);
}

TEST_F(BenchPrecision, CleanCardSetsNothingAside) {
  const auto c = run(settled);
  EXPECT_EQ(c.gate, store::GateOutcome::Passed);
  const auto runs = measured_runs(c);
  ASSERT_GE(runs.size(), 5u);
  for (const auto& r : runs) {
    EXPECT_FALSE(store::set_aside(r)) << r.flags;
    EXPECT_NEAR(r.decode_j_per_token, settled(r.index), 1e-9);
  }
  int n = 0;
  stat(c, "decode_j_per_token", &n);
  EXPECT_EQ(n, int(runs.size()));
  const auto j = set_aside(c);
  EXPECT_TRUE(j["unsettled"].empty());
  EXPECT_TRUE(j["outlier_rejected"].is_null());
  EXPECT_FALSE(j["trend"]["significant"].get<bool>());
}

// The H200's batch-1 pattern: the first three runs 3.0, 2.3 and 1.4 % low (544-553 W against
// 556-566 W). With them the CV is over the 1 % gate; they are set aside, more runs measured.
TEST_F(BenchPrecision, SettlingCardsLeadingRunsAreSetAsideAndTheGatePasses) {
  const double low[] = {0.970, 0.977, 0.986};
  const auto c = run([&](int i) { return i < 3 ? kSettled * low[i] : settled(i); });
  EXPECT_EQ(c.gate, store::GateOutcome::Passed) << c.gate_json;
  const auto runs = measured_runs(c);
  ASSERT_GE(runs.size(), 8u);  // five counted at least, beside the three set aside
  for (const auto& r : runs)
    EXPECT_EQ(flagged(r, store::kRunUnsettled), r.index < 3) << r.index << ": " << r.flags;
  for (const auto& r : runs) EXPECT_FALSE(flagged(r, store::kRunOutlierRejected));
  int n = 0;
  const double mean = stat(c, "decode_j_per_token", &n);
  EXPECT_EQ(n, int(runs.size()) - 3);
  EXPECT_NEAR(mean, kSettled, 0.003 * kSettled);
  const auto j = set_aside(c);
  EXPECT_EQ(j["unsettled"], nlohmann::json({0, 1, 2}));
  ASSERT_EQ(j["trend_drops"].size(), 1u);
  EXPECT_EQ(j["trend_drops"][0]["after_runs"], 5);
  EXPECT_TRUE(j["trend_drops"][0]["trend"]["significant"].get<bool>());
  EXPECT_EQ(j["measured"], int(runs.size()));
  EXPECT_EQ(nlohmann::json::parse(c.gate_json)["rounds"][0]["n"], n);
}

// The H200's batch-64 pattern: one window 3.9 % low (639 W against 663-667 W). It is rejected
// once eight runs are in, one extra run replaces it, and the summary is the settled card's.
TEST_F(BenchPrecision, OneOutlierWindowIsRejectedReMeasuredAndFlagged) {
  const auto c = run([](int i) { return i == 3 ? 0.961 * kSettled : settled(i); });
  EXPECT_EQ(c.gate, store::GateOutcome::Passed) << c.gate_json;
  const auto runs = measured_runs(c);
  ASSERT_GE(runs.size(), 9u);  // eight before the rule looks, then the replacement
  for (const auto& r : runs) {
    EXPECT_EQ(flagged(r, store::kRunOutlierRejected), r.index == 3) << r.index << ": " << r.flags;
    EXPECT_FALSE(flagged(r, store::kRunUnsettled));
  }
  int n = 0;
  const double mean = stat(c, "decode_j_per_token", &n);
  EXPECT_EQ(n, int(runs.size()) - 1);
  EXPECT_NEAR(mean, kSettled, 0.003 * kSettled);
  const auto j = set_aside(c);
  EXPECT_EQ(j["outlier_rejected"], 3);
  EXPECT_EQ(j["outliers_found"], 1);
  EXPECT_TRUE(j["outlier_remeasured"].get<bool>());
  // The rejected run stays in the store and in the runs export, with its flag.
  const auto table = store::export_table(*store_, store::ExportTable::Runs);
  const auto flags_col = std::find(table.columns.begin(), table.columns.end(), "flags");
  ASSERT_NE(flags_col, table.columns.end());
  int rejected_rows = 0;
  for (const auto& row : table.rows) {
    const auto& cell = row[size_t(flags_col - table.columns.begin())];
    if (const auto* s = std::get_if<std::string>(&cell))
      rejected_rows += store::has_flag(*s, store::kRunOutlierRejected);
  }
  EXPECT_EQ(rejected_rows, 1);
  EXPECT_THAT(store::render(table, store::ExportFormat::Md),
              ::testing::HasSubstr(std::string(store::kRunOutlierRejected)));
  // The dashboard's statistics count the same runs as the stored summary.
  const auto doc = report::build_study({dir_ / "s.db"});
  ASSERT_EQ(doc["configs"].size(), 1u);
  EXPECT_EQ(doc["configs"][0]["n"], n);
}

// Two outliers: neither is rejected, no run is added, and the 1 % gate decides (it fails).
TEST_F(BenchPrecision, TwoOutliersRejectNothingAndTheGateDecides) {
  const auto c = run([](int i) { return i == 2 || i == 5 ? 0.961 * kSettled : settled(i); });
  EXPECT_EQ(c.gate, store::GateOutcome::Failed) << c.gate_json;
  const auto runs = measured_runs(c);
  EXPECT_LE(int(runs.size()), spec_.protocol.max_runs);
  for (const auto& r : runs) EXPECT_FALSE(store::set_aside(r)) << r.index << ": " << r.flags;
  int n = 0;
  stat(c, "decode_j_per_token", &n);
  EXPECT_EQ(n, int(runs.size()));
  const auto j = set_aside(c);
  EXPECT_TRUE(j["outlier_rejected"].is_null());
  EXPECT_EQ(j["outliers_found"], 2);
  EXPECT_FALSE(j["outlier_remeasured"].get<bool>());
}

}  // namespace
}  // namespace eco::bench

namespace eco::bench {
namespace {

// One steady-state window (the ML.ENERGY-style comparison of tools/gpu/session.sh steady): one
// measured run whose decode window is sized by its length from the one-repetition probe, and
// whose gates are not evaluated (there is no CV of one run).
TEST_F(BenchPrecision, OneLongDecodeWindowWithoutGates) {
  spec_.protocol.runs = spec_.protocol.max_runs = 1;
  spec_.protocol.warmup = 0;
  spec_.protocol.decode_window_s = 0.25;
  decode_sleep_ms_ = 10;
  const auto c = run(settled);
  EXPECT_EQ(c.gate, store::GateOutcome::NotEvaluated);
  const auto runs = measured_runs(c);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_NEAR(runs[0].decode_j_per_token, settled(0), 1e-9);
  const auto gate = nlohmann::json::parse(c.gate_json);
  const double probe_s = gate["window_sizing"]["decode_probe_s"].get<double>();
  EXPECT_DOUBLE_EQ(gate["window_sizing"]["decode_target_s"].get<double>(), 0.25);
  EXPECT_GE(probe_s, 0.010);  // one repetition, sleep included
  EXPECT_EQ(gate["k_decode"].get<int>(), int(std::ceil(1.05 * 0.25 / probe_s)));
  EXPECT_EQ(
      test_db(*store_).query_int("SELECT count(*) FROM protocol_events WHERE step = 'gate' AND "
                                 "outcome = 'not-evaluated'"),
      1);
}

// The same with aligned windows sized by a measured counter period (a scripted GPU whose counter
// updates every 20 ms): the length asked for wins over the N periods, from the one-repetition
// probe.
TEST(SteadyWindow, AlignedDecodeWindowIsSizedByItsLength) {
  const fs::path dir = fresh_test_dir("steady");
  SweepSpec spec = tiny_cpu_sweep(8);
  auto& p = spec.protocol;
  p.idle_seconds = 0;
  fixed_runs(p, 1);
  p.min_counter_updates = 3;
  p.sample_interval_s = 0.01;
  p.decode_window_s = 0.3;
  const auto meter = scripted_gpu_meter(p, 200.0, 0.02);
  ProgressSink quiet;
  auto st = store::Store::open(dir / "s.db");
  run_sweep(spec, st, quiet, meter.get());
  const auto cfg = st.configs().at(0);
  EXPECT_EQ(cfg.gate, store::GateOutcome::NotEvaluated);
  const auto gate = nlohmann::json::parse(cfg.gate_json);
  const auto sizing = gate["window_sizing"];
  ASSERT_TRUE(sizing.is_object()) << cfg.gate_json;
  EXPECT_DOUBLE_EQ(sizing["decode_target_s"].get<double>(), 0.3);
  const double probe_s = sizing["decode_probe_s"].get<double>();
  EXPECT_GT(probe_s, 0);
  EXPECT_EQ(gate["k_decode"].get<int>(), int(std::ceil(1.05 * 0.3 / probe_s)));
  const auto runs = st.runs(cfg.id);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_THAT(runs[0].flags, ::testing::HasSubstr("windows-aligned"));
  fs::remove_all(dir);
}

TEST(ProtocolOptions, OneRunOnlyWithMaxRunsOne) {
  ProtocolOptions p;
  p.runs = 1;
  EXPECT_THROW(p.validate(), Error);  // max_runs 30: an adaptive round needs 2 for its CI
  p.max_runs = 1;
  EXPECT_NO_THROW(p.validate());
  p.decode_window_s = -1;
  EXPECT_THROW(p.validate(), Error);
  const auto q = ProtocolOptions::from_json({{"runs", 1}, {"max_runs", 1}, {"decode_window_s", 60}},
                                            "steady.json");
  EXPECT_DOUBLE_EQ(q.decode_window_s, 60);
  EXPECT_EQ(ProtocolOptions::from_json(q.to_json(), "round trip").decode_window_s, 60);
}

}  // namespace
}  // namespace eco::bench
