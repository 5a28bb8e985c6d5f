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
#include "meter/scripted_sensor.h"
#include "store/store.h"
#include "store_access.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

constexpr double kPeriod = 0.03;

TEST(WindowSizing, AlignedWindowsLastTheirUpdatesOfTheMeasuredCounterPeriod) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_sizing_{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
  SweepSpec spec;
  spec.models = {"synthetic:tiny"};
  spec.formats = {"fp32"};
  spec.batches = {1};
  spec.prompt_lens = {8};
  spec.gen_lens = {8};
  spec.device = "cpu";
  auto& p = spec.protocol;
  p.idle_seconds = 0.05;
  p.stabilise_max_s = 0;
  p.warmup = 0;
  p.runs = p.max_runs = 4;
  p.min_counter_updates = 6;
  p.sample_interval_s = 0.01;
  p.max_cv_decode_tok_s = p.max_cv_decode_j_per_token = 10.0;  // not what this test checks
  p.max_reruns = 0;
  meter::ScriptedDevice d;
  d.power = {{0.0, 200.0}};
  d.counter_period_s = kPeriod;
  meter::MeterOptions mo;
  mo.interval_s = p.sample_interval_s;
  mo.min_counter_updates = p.min_counter_updates;
  mo.use_host = false;
  meter::Meter meter(
      mo, std::make_unique<meter::ScriptedSensor>(std::vector<meter::ScriptedDevice>{d}));
  ProgressSink quiet;
  auto st = store::Store::open(dir / "s.db");
  run_sweep(spec, st, quiet, &meter);

  auto q = test_db(st).prepare(
      "SELECT outcome, details_json FROM protocol_events WHERE step = 'counter-period'");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.get_text(0), "measured");
  const double period = nlohmann::json::parse(q.get_text(1))["period_s"].get<double>();
  EXPECT_NEAR(period, kPeriod, 0.003);
  // The metered phases x their repetitions last N periods (3 for prefill, 6 for decode) on
  // average over the runs (sized with 5 % headroom; one run may be a little shorter on a busy
  // host), which N sampler intervals (30 and 60 ms) would not have ensured.
  const auto cfg = st.configs().at(0);
  const auto runs = st.runs(cfg.id);
  ASSERT_EQ(runs.size(), 4u);
  for (size_t phase : {0u, 1u}) {
    double total = 0;
    std::string name;
    for (const auto& r : runs) {
      ASSERT_EQ(r.phases.size(), 3u);
      const auto& ph = r.phases[phase];
      const size_t at = ph.flags.find("k=");
      total += ph.seconds * (at == std::string::npos ? 1 : std::stoi(ph.flags.substr(at + 2)));
      name = ph.name;
    }
    const int n = name == "prefill" ? 3 : 6;
    EXPECT_GE(total / runs.size(), n * period) << name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eco::bench
