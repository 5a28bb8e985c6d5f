// The sweep's seams for a study: which configurations of the cross product it measures
// (SweepHooks::include), stopping cleanly before a configuration (SweepHooks::proceed), and
// per-format LLM.int8() settings in one sweep. CPU engine, tiny synthetic model, scripted power.
#include <unistd.h>

#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bench/sweep.h"
#include "integration/steered_sensor.h"
#include "integration/tiny_sweep.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

class SweepHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_sweep_hooks_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
    spec_.models = {"synthetic:tiny"};
    spec_.formats = {"fp32", "int8", "int8?threshold=2&impl=reference-bnb"};
    spec_.batches = {1, 2};
    spec_.prompt_lens = {8};
    spec_.gen_lens = {4};
    spec_.device = "cpu";
    auto& p = spec_.protocol;
    p.idle_seconds = 0;
    fixed_runs(p, 2);
    p.min_counter_updates = 0;
    p.max_cv_decode_tok_s = 10.0;
    meter::MeterOptions mo;
    mo.interval_s = 0.001;
    meter_ = std::make_unique<meter::Meter>(mo, std::make_unique<SteeredSensor>());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  SweepSpec spec_;
  std::unique_ptr<meter::Meter> meter_;
  ProgressSink progress_;
};

TEST_F(SweepHooksTest, IncludeMeasuresOnlyTheChosenConfigurations) {
  auto st = store::Store::open(dir_ / "s.db");
  SweepHooks hooks;
  hooks.include = [](const std::string&, const std::string& format, int batch, int, int) {
    return format == "fp32" || batch == 1;  // the int8 formats at batch 1 only
  };
  const SweepResult r = run_sweep(spec_, st, progress_, meter_.get(), hooks);
  EXPECT_EQ(r.configurations, 4);
  EXPECT_EQ(r.done, 4);
  EXPECT_EQ(r.not_started, 0);
  EXPECT_EQ(store::test_db(st).query_int("SELECT count(*) FROM configurations"), 4);
  // Two int8 settings in one sweep: two formats with their parameters.
  EXPECT_EQ(store::test_db(st).query_int(
                "SELECT count(*) FROM formats WHERE name = 'int8' AND params_json LIKE "
                "'%\"impl\":\"reference-bnb\"%' AND params_json LIKE '%\"threshold\":2.0%'"),
            1);
  EXPECT_EQ(store::test_db(st).query_int(
                "SELECT count(*) FROM formats WHERE name = 'int8' AND params_json LIKE "
                "'%\"impl\":\"fused\"%' AND params_json LIKE '%\"threshold\":6.0%'"),
            1);
}

TEST_F(SweepHooksTest, ProceedStopsBeforeAConfigurationAndResumeFinishes) {
  std::vector<std::string> asked;
  SweepHooks hooks;
  hooks.proceed = [&](const PlannedConfig& next) {
    asked.push_back(next.label);
    return asked.size() <= 3;  // the fourth is refused
  };
  {
    auto st = store::Store::open(dir_ / "s.db");
    const SweepResult r = run_sweep(spec_, st, progress_, meter_.get(), hooks);
    EXPECT_EQ(r.configurations, 6);
    EXPECT_EQ(r.done, 3);
    EXPECT_EQ(r.not_started, 3);
    EXPECT_EQ(asked.size(), 4u);  // asked once more, then nothing else started
    EXPECT_EQ(
        store::test_db(st).query_int("SELECT count(*) FROM configurations WHERE status = 'done'"),
        3);
    EXPECT_EQ(store::test_db(st).query_int("SELECT count(*) FROM runs r JOIN configurations c ON "
                                           "c.id = r.config_id WHERE c.status != 'done'"),
              0);
  }
  auto st = store::Store::open(dir_ / "s.db");
  SweepSpec again = spec_;
  again.resume = true;
  const SweepResult r = run_sweep(again, st, progress_, meter_.get());
  EXPECT_EQ(r.skipped, 3);
  EXPECT_EQ(r.done, 3);
  EXPECT_EQ(
      store::test_db(st).query_int("SELECT count(*) FROM configurations WHERE status = 'done'"), 6);
}

}  // namespace
}  // namespace eco::bench
