// The protocol's windows back to back: one that follows another with nothing run on the GPU
// between starts on the counter change that ended it; after work outside any window it waits
// for a change of its own. A scripted GPU whose counter changes every 20 ms.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bench/window.h"
#include "meter/scripted_sensor.h"
#include "store/store.h"

namespace eco::bench {
namespace {

namespace fs = std::filesystem;

constexpr double kPeriod = 0.02;

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// The change a window started on and the one that ended it, steady clock.
double start_change(const meter::WindowResult& r) {
  return r.start_s - r.devices.at(0).head_s;
}
double end_change(const meter::WindowResult& r) {
  return r.end_s + r.devices.at(0).tail_s;
}

TEST(ProtocolWindow, FollowsTheLastWindowOnItsChangeOnlyWhenNothingRanBetween) {
  const fs::path db = fs::temp_directory_path() / fmt::format("eco_window_{}.db", ::getpid());
  fs::remove(db);
  auto st = store::Store::open(db);
  meter::ScriptedDevice d;
  d.power = {{0.0, 300.0}};
  d.counter_period_s = kPeriod;
  d.counter_phase_s = 0.004;
  meter::MeterOptions mo;
  mo.interval_s = 0.002;
  mo.use_host = false;
  auto sensor = std::make_unique<meter::ScriptedSensor>(std::vector<meter::ScriptedDevice>{d});
  meter::ScriptedSensor* s = sensor.get();
  meter::Meter m(mo, std::move(sensor));
  ProgressSink quiet;
  ProtocolOptions p;
  p.reuse_change_s = 0.05;
  MeasureContext ctx{st, m, quiet, p};
  ctx.energy = true;

  auto window = [&](const char* name, double work_s) {
    Window w(ctx, name);
    sleep_s(work_s);
    return w.end();
  };
  const meter::WindowResult a = window("prefill", 0.025);
  EXPECT_TRUE(ctx.window_just_ended);
  const meter::WindowResult b = window("decode", 0.03);  // right after: a's change
  EXPECT_NEAR(start_change(b), end_change(a), 1e-3);
  ctx.window_just_ended = false;  // work outside any window, say a prefill
  const meter::WindowResult c = window("decode", 0.03);
  EXPECT_GT(start_change(c) - end_change(b), 0.5 * kPeriod);  // a change of its own
  for (const auto* r : {&a, &b, &c}) {
    const auto& e = r->devices.at(0);
    ASSERT_TRUE(e.aligned);
    EXPECT_LE(std::fabs(e.gross_j - s->energy_j(0, r->start_s, r->end_s)), e.uncertainty_j);
  }
  fs::remove(db);
}

}  // namespace
}  // namespace eco::bench
