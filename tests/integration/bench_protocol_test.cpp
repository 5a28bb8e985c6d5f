// The protocol in-process, on the CPU engine with a tiny synthetic model and a GPU sensor whose
// power the test sets per run, so that each gate outcome is produced deterministically.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/sweep.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "integration/steered_sensor.h"
#include "integration/watched_engine.h"
#include "meter/sensor.h"
#include "model/resolve.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

class BenchProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_bench_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
    spec_.models = {"synthetic:tiny"};
    spec_.formats = {"fp32"};
    spec_.batches = {2};
    spec_.prompt_lens = {8};
    spec_.gen_lens = {4};
    spec_.device = "cpu";
    auto& p = spec_.protocol;
    p.idle_seconds = 0.05;
    p.stabilise_max_s = 0.05;
    p.warmup = 1;
    p.runs = 4;
    p.max_runs = 4;  // a fixed count: these tests are about gates, not the CI rule
    p.min_counter_updates = 3;
    p.sample_interval_s = 0.001;
    p.max_cv_decode_tok_s = 10.0;  // timing on a shared CI core is not what these tests gate
    p.max_cv_decode_j_per_token = 1.0;
    p.max_reruns = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void make_meter() {
    auto sensor = std::make_unique<SteeredSensor>();
    sensor_ = sensor.get();
    meter::MeterOptions mo;
    mo.interval_s = spec_.protocol.sample_interval_s;
    mo.min_counter_updates = spec_.protocol.min_counter_updates;
    meter_ = std::make_unique<meter::Meter>(mo, std::move(sensor));
  }

  fs::path dir_;
  SweepSpec spec_;
  SteeredSensor* sensor_ = nullptr;
  std::unique_ptr<meter::Meter> meter_;
};

TEST_F(BenchProtocol, GatePassesOnSteadyPowerAndSubtractsIdle) {
  // Decode metered in its own window (no repetition): a decode derived as total - prefill from
  // two windows can come out near zero seconds when a loaded host preempts one of them, and
  // its tok/s then fails any CV gate. Repetition has its own test (ShortRunsAre...).
  spec_.protocol.min_counter_updates = 0;
  // Microsecond windows on a shared core: one preempted run can double its J/token. This test
  // is about the records and the idle subtraction, so only a broken figure may fail the gate.
  spec_.protocol.max_cv_decode_j_per_token = 10.0;
  // Every window waits for a change of its own: this sensor integrates its power only at reads,
  // so a window that starts on the previous window's change (and subtracts the head from power
  // readings) is off by whatever a preempted read misses. Sharing has its own test.
  spec_.protocol.reuse_change_s = 0;
  make_meter();
  Steering steering(*sensor_);
  steering.power = [](const RunLabel&) { return 250.0; };  // idle is 100 W
  auto st = store::Store::open(dir_ / "s.db");
  const auto res = run_sweep(spec_, st, steering, meter_.get());
  EXPECT_EQ(res.gates_passed, 1);
  const auto cfg = st.configs().at(0);
  EXPECT_EQ(cfg.status, store::ConfigStatus::Done);
  EXPECT_EQ(cfg.gate, store::GateOutcome::Passed);
  EXPECT_EQ(cfg.rounds, 1);
  const auto runs = st.runs(cfg.id);
  // 4 measured: stabilisation's windows were round 0's warm-up.
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& r : runs) EXPECT_FALSE(r.warmup);
  for (const auto& r : runs) {
    if (r.warmup) continue;
    // Idle subtraction: net = gross - idle x duration, with the 100 W baseline (an aligned
    // 0.05 s window: this sensor's counter changes at every read, each end timed to about a
    // millisecond).
    EXPECT_NEAR(r.idle_power_w, 100.0, 3.0);
    EXPECT_NEAR(r.net_energy_j, r.gross_energy_j - r.idle_power_w * r.seconds,
                1e-6 + 1e-9 * r.gross_energy_j);
    EXPECT_NEAR(r.net_energy_j / r.gross_energy_j, 150.0 / 250.0, 0.1);
    // J/request and J/1k tokens are distinct normalisations of the same net energy.
    EXPECT_NEAR(r.j_per_request, r.net_energy_j / 2, 1e-12);
    EXPECT_NEAR(r.j_per_1k_tokens, 1000 * r.net_energy_j / r.generated_tokens, 1e-9);
    ASSERT_EQ(r.phases.size(), 3u);
    EXPECT_EQ(r.phases[0].name, "prefill");
    EXPECT_EQ(r.phases[1].name, "decode");
    EXPECT_GT(r.decode_j_per_token, 0);
  }
  EXPECT_EQ(
      test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE step='idle-baseline'"), 1);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE step='gate'"), 1);
  EXPECT_EQ(
      test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE step='stabilisation'"), 1);
  EXPECT_GT(test_db(st).query_int("SELECT count(*) FROM power_timeline"), 0);
  // Per-configuration statistics over the measured runs.
  bool found = false;
  for (const auto& s : st.stats(cfg.id))
    if (s.metric == "j_per_request") {
      found = true;
      EXPECT_EQ(s.n, 4);
      EXPECT_LT(s.ci_low, s.mean);
      EXPECT_GT(s.ci_high, s.mean);
    }
  EXPECT_TRUE(found);
}

TEST_F(BenchProtocol, GatePassesAfterRerunWhenFirstRoundIsNoisy) {
  make_meter();
  Steering steering(*sensor_);
  // Round 0: power 10^i W per run -> CV of J/token far above 100 %; later rounds steady.
  steering.power = [](const RunLabel& l) {
    return l.round == 0 && !l.warmup ? 150.0 * std::pow(10.0, l.index) : 250.0;
  };
  auto st = store::Store::open(dir_ / "s.db");
  const auto res = run_sweep(spec_, st, steering, meter_.get());
  EXPECT_EQ(res.gates_passed_after_rerun, 1);
  const auto cfg = st.configs().at(0);
  EXPECT_EQ(cfg.gate, store::GateOutcome::PassedAfterRerun);
  EXPECT_EQ(cfg.rounds, 2);
  // Every run is kept: round 0's 4 measured runs (stabilisation warmed the card), then the
  // re-run round's warm-up and 4 measured.
  EXPECT_EQ(st.runs(cfg.id).size(), 9u);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM runs WHERE is_rerun_round = 1"), 5);
  EXPECT_THAT(cfg.gate_json, ::testing::HasSubstr("\"energy_ok\":false"));
  for (const auto& s : st.stats(cfg.id)) EXPECT_EQ(s.round, 1);
}

TEST_F(BenchProtocol, GateFailsWhenEveryRoundIsNoisyAndResultIsKept) {
  make_meter();
  Steering steering(*sensor_);
  steering.power = [](const RunLabel& l) {
    return l.warmup ? 250.0 : 150.0 * std::pow(10.0, l.index);
  };
  auto st = store::Store::open(dir_ / "s.db");
  const auto res = run_sweep(spec_, st, steering, meter_.get());
  EXPECT_EQ(res.gates_failed, 1);
  const auto cfg = st.configs().at(0);
  EXPECT_EQ(cfg.status, store::ConfigStatus::Done);  // measured, with a failed gate recorded
  EXPECT_EQ(cfg.gate, store::GateOutcome::Failed);
  EXPECT_EQ(cfg.rounds, 3);
  EXPECT_EQ(st.runs(cfg.id).size(), 14u);  // 4, then 1 + 4 in each re-run round
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE outcome='fail'"), 1);
  EXPECT_EQ(
      test_db(st).query_int("SELECT count(*) FROM protocol_events WHERE outcome='fail-rerun'"), 2);
}

TEST_F(BenchProtocol, ShortPhasesAreRepeatedInsideTheirOwnWindows) {
  // Sampling every 20 ms: a tiny prefill sees far fewer than 5 counter updates on its own.
  spec_.protocol.sample_interval_s = 0.02;
  spec_.protocol.min_counter_updates = 5;
  spec_.protocol.max_repetitions = 400;
  spec_.protocol.runs = spec_.protocol.max_runs = 2;
  spec_.gen_lens = {32};
  // The phases' lengths are set by sleeps that outweigh their compute: a prefill takes at least
  // 1 ms, a decode at least 60 ms. A loaded host only lengthens both, so decode stays much
  // longer than prefill and the two windows need different k whatever the preemption.
  SweepHooks hooks;
  hooks.make_engine = [](const model::ModelWeights& w, const engine::EngineOptions& o) {
    return std::make_unique<WatchedEngine>(engine::create_engine(w, o), [](const char* call) {
      const std::string c(call);
      if (c == "prefill") std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (c == "decode_greedy") std::this_thread::sleep_for(std::chrono::milliseconds(60));
    });
  };
  make_meter();
  Steering steering(*sensor_);
  steering.power = [](const RunLabel&) { return 200.0; };
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, steering, meter_.get(), hooks);
  const auto cfg = st.configs().at(0);
  for (const auto& r : st.runs(cfg.id)) {
    if (r.warmup) continue;
    EXPECT_GT(r.k, 1);
    // Decode is its own window, re-run from the saved post-prefill position: measured, not
    // derived from a difference.
    EXPECT_THAT(r.flags, ::testing::HasSubstr("decode-direct"));
    EXPECT_THAT(r.flags, ::testing::Not(::testing::HasSubstr("decode-derived")));
    // Per-repetition values: energy / k at 200 W over the per-repetition duration.
    EXPECT_NEAR(r.gross_energy_j / r.seconds, 200.0, 200.0 * 0.05);
    ASSERT_EQ(r.phases.size(), 3u);
    const auto& pre = r.phases[0];
    const auto& dec = r.phases[1];
    ASSERT_EQ(dec.name, "decode");
    ASSERT_TRUE(pre.counter_updates.has_value() && dec.counter_updates.has_value());
    // Each window sized to its own minimum (the prefill's is half the decode's), less the one
    // update a window can lose to where its ends fall.
    const int min_updates = spec_.protocol.min_counter_updates;
    if (r.k < spec_.protocol.max_repetitions) {
      EXPECT_GE(*pre.counter_updates, prefill_min_counter_updates(spec_.protocol) - 1);
    }
    EXPECT_GE(*dec.counter_updates, min_updates - 1);
    EXPECT_NEAR(dec.gross_energy_j / dec.seconds, 200.0, 200.0 * 0.05);
    EXPECT_THAT(pre.flags, ::testing::HasSubstr(fmt::format("k={}", r.k)));
    // The decode window repeats decode only as often as its own length needs: fewer times than
    // the short prefill.
    const size_t at = dec.flags.find("k=");
    const int k_decode = at == std::string::npos ? 1 : std::stoi(dec.flags.substr(at + 2));
    EXPECT_LE(k_decode, r.k);
    // The total is the sum of the two measured phases.
    EXPECT_NEAR(r.phases[2].gross_energy_j, pre.gross_energy_j + dec.gross_energy_j, 1e-9);
    EXPECT_THAT(r.phases[2].flags, ::testing::HasSubstr("sum-of-phases"));
  }
}

TEST_F(BenchProtocol, FailedConfigurationIsRecordedAndSweepGoesOn) {
  spec_.formats = {"fp32", "nf4-dq"};
  spec_.batches = {1};
  make_meter();
  Steering steering(*sensor_);
  auto st = store::Store::open(dir_ / "s.db");
  // A prompt longer than the model's context makes the engine refuse one configuration.
  spec_.prompt_lens = {8, 100000};
  const auto res = run_sweep(spec_, st, steering, meter_.get());
  EXPECT_GE(res.failed, 2);
  EXPECT_GE(res.done, 1);
  int failed = 0;
  for (const auto& c : st.configs())
    if (c.status == store::ConfigStatus::Failed) {
      ++failed;
      EXPECT_FALSE(c.error.empty());
    }
  EXPECT_EQ(failed, res.failed);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM failures"), res.failed);
}

TEST_F(BenchProtocol, ExistingConfigurationNeedsResume) {
  make_meter();
  Steering steering(*sensor_);
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, steering, meter_.get());
  EXPECT_THROW(run_sweep(spec_, st, steering, meter_.get()), Error);
  spec_.resume = true;
  const auto res = run_sweep(spec_, st, steering, meter_.get());
  EXPECT_EQ(res.skipped, 1);
  EXPECT_EQ(res.done, 0);
}

TEST_F(BenchProtocol, RefusedSweepLeavesTheStudyUnchanged) {
  make_meter();
  Steering steering(*sensor_);
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, steering, meter_.get());
  spec_.batches = {1, 2};  // batch 1 is new, batch 2 exists: refused as a whole
  EXPECT_THROW(run_sweep(spec_, st, steering, meter_.get()), Error);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM sessions"), 1);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM configurations"), 1);
}

TEST_F(BenchProtocol, TextPromptIsTheTextsTokensAndResumeChecksIt) {
  make_meter();
  Steering steering(*sensor_);
  spec_.prompt_text = TextPrompt{"hello world", "--prompt"};
  spec_.prompt_lens = {};
  auto st = store::Store::open(dir_ / "s.db");
  run_sweep(spec_, st, steering, meter_.get());
  const auto cfg = st.configs().at(0);
  const auto pj = nlohmann::json::parse(cfg.protocol_json);
  const auto ids = pj["prompt"]["token_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(cfg.key.prompt_len, int(ids.size()));
  EXPECT_EQ(pj["prompt"]["origin"], "--prompt");
  for (const auto& r : st.runs(cfg.id)) EXPECT_EQ(r.prompt_tokens, 2 * int64_t(ids.size()));
  // Resuming with other text of the same token count is another workload: refused.
  spec_.resume = true;
  const auto tok = tokenizer_for_model(model::resolve_model("synthetic:tiny"), true);
  std::string other;
  for (char c = 'a'; c <= 'z' && other.empty(); ++c) {
    std::string t = "hello world";
    t.back() = c;
    const auto t_ids = tok.encode(t);
    if (t_ids.size() == ids.size() && t_ids != ids) other = t;
  }
  ASSERT_FALSE(other.empty()) << "no variant of the text with the same token count";
  spec_.prompt_text = TextPrompt{other, "--prompt"};
  try {
    run_sweep(spec_, st, steering, meter_.get());
    ADD_FAILURE() << "resume with another prompt was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("measured with another prompt"));
  }
  spec_.prompt_text = TextPrompt{"hello world", "--prompt"};
  EXPECT_EQ(run_sweep(spec_, st, steering, meter_.get()).skipped, 1);
}

TEST(SweepSpec, Int8OptionsApplyToInt8FormatsOnly) {
  SweepSpec s;
  s.models = {"synthetic:tiny"};
  s.formats = {"fp16", "int8", "int8-pure"};
  s.batches = {1};
  s.prompt_lens = {4};
  s.gen_lens = {2};
  s.int8_threshold = 3.0f;
  s.int8_impl = quant::Int8Impl::ReferenceBnb;
  s.validate();
  EXPECT_EQ(s.format_spec("int8").int8_threshold, 3.0f);
  EXPECT_EQ(s.format_spec("int8-pure").int8_threshold, 0.0f);
  EXPECT_EQ(s.format_spec("int8-pure").int8_impl, quant::Int8Impl::ReferenceBnb);
  EXPECT_EQ(s.format_spec("fp16").format, quant::WeightFormat::FP16);
  s.int8_threshold = 0.0f;  // int8 becomes int8-pure, which is listed already
  EXPECT_THROW(s.validate(), Error);
  s.formats = {"fp16"};
  s.int8_threshold = -1.0f;
  EXPECT_THROW(s.validate(), Error);  // --int8-impl without an int8 format
  s.int8_impl.reset();
  s.formats = {"fp16", "f16"};
  EXPECT_THROW(s.validate(), Error);  // the same format twice
}

TEST(SweepFile, ParsesAndRejectsUnknownKeys) {
  const auto s = parse_sweep_json(
      R"({"models": ["synthetic:tiny"], "formats": "fp16", "batches": [1, 8], "prompt_lens": 16,
          "gen_lens": [8], "protocol": {"runs": 5, "idle_seconds": 1}})",
      "sweep.json");
  EXPECT_EQ(s.batches, (std::vector<int>{1, 8}));
  EXPECT_EQ(s.protocol.runs, 5);
  EXPECT_EQ(s.configuration_count(), 2);
  EXPECT_THROW(parse_sweep_json(R"({"modles": []})", "sweep.json"), Error);
  EXPECT_THROW(parse_sweep_json(R"({"protocol": {"runz": 1}})", "sweep.json"), Error);
  EXPECT_THROW(parse_sweep_json(R"({"protocol": {"runs": 1}})", "sweep.json"), Error);
  const auto t = parse_sweep_json(
      R"({"prompt": "hi there", "int8_threshold": 4, "int8_impl": "reference-bnb"})", "sweep.json");
  ASSERT_TRUE(t.prompt_text.has_value());
  EXPECT_EQ(t.prompt_text->text, "hi there");
  EXPECT_EQ(t.int8_threshold, 4.0f);
  EXPECT_EQ(t.int8_impl, quant::Int8Impl::ReferenceBnb);
  EXPECT_THROW(parse_sweep_json(R"({"int8_impl": "bnb"})", "sweep.json"), Error);
  EXPECT_THROW(parse_sweep_json(R"({"int8_threshold": -1})", "sweep.json"), Error);
  EXPECT_THROW(parse_sweep_json(R"({"prompt": "a", "text": "b.txt"})", "sweep.json"), Error);
  EXPECT_THROW(parse_sweep_json(R"({"text": "/nonexistent/prompt.txt"})", "sweep.json"), Error);
}

// The TOML form reads as the JSON form; syntax errors name the file and the line; a file of
// another extension is refused before anything runs.
TEST(SweepFile, TomlIsTheSameSweep) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_sweep_toml_{}", ::getpid());
  fs::create_directories(dir);
  const auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const auto s = load_sweep_file(write("a.toml", R"(models = ["synthetic:tiny"]
formats = "fp16"
batches = [1, 8]
prompt_lens = 16
gen_lens = [8]
int8_threshold = 4.5

[protocol]
runs = 5
idle_seconds = 1.5
)"));
  EXPECT_EQ(s.models, (std::vector<std::string>{"synthetic:tiny"}));
  EXPECT_EQ(s.batches, (std::vector<int>{1, 8}));
  EXPECT_EQ(s.protocol.runs, 5);
  EXPECT_DOUBLE_EQ(s.protocol.idle_seconds, 1.5);
  EXPECT_EQ(s.int8_threshold, 4.5f);
  EXPECT_EQ(s.configuration_count(), 2);
  EXPECT_THAT([&] { load_sweep_file(write("b.toml", "models = [\"x\"\nformats = 3\n")); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("not valid TOML at line")));
  EXPECT_THAT([&] { load_sweep_file(write("c.toml", "modles = []\n")); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("modles")));
  EXPECT_THAT([&] { load_sweep_file(write("d.yaml", "models: []\n")); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr(".toml or .json")));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace eco::bench
