// Meter windows driven by the scripted sensor: exact energies are known from the script.
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "ecocompute/meter.h"
#include "meter/scripted_sensor.h"

namespace eco::meter {
namespace {

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

MeterOptions fast() {
  MeterOptions o;
  o.interval_s = 0.002;
  o.use_host = false;
  return o;
}

struct Rig {
  ScriptedSensor* sensor;
  std::unique_ptr<Meter> meter;
};

Rig make(std::vector<ScriptedDevice> devices, MeterOptions o = fast()) {
  auto sensor = std::make_unique<ScriptedSensor>(std::move(devices));
  ScriptedSensor* raw = sensor.get();
  return {raw, std::make_unique<Meter>(o, std::move(sensor))};
}

// A ramp 100 -> 400 W over 0.3 s, then down to 200 W at 0.6 s and flat.
ScriptedDevice ramp() {
  ScriptedDevice d;
  d.power = {{0.0, 100}, {0.3, 400}, {0.6, 200}};
  return d;
}

TEST(MeterWindow, KnownEnergyByCounterAndTimeline) {
  Rig rig = make({ramp()});
  rig.meter->begin("w");
  sleep_s(0.5);
  const WindowResult r = rig.meter->end("w");
  ASSERT_EQ(r.devices.size(), 1u);
  const DeviceEnergy& d = r.devices[0];
  const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
  EXPECT_GT(exact, 50.0);
  EXPECT_NEAR(d.counter_j, exact, 0.005 * exact);
  EXPECT_NEAR(d.integrated_j, exact, 0.005 * exact);
  EXPECT_EQ(d.source, "counter");
  EXPECT_DOUBLE_EQ(d.gross_j, d.counter_j);
  EXPECT_NEAR(r.duration_s, 0.5, 0.1);
  EXPECT_GE(d.peak_power_w, 300.0);
  EXPECT_FALSE(d.too_short);
  EXPECT_FALSE(d.disagreement);
}

TEST(MeterWindow, WindowsNestAndOverlapByName) {
  Rig rig = make({ramp()});
  Meter& m = *rig.meter;
  m.begin("outer");
  sleep_s(0.1);
  m.begin("inner");
  m.begin("overlap");
  sleep_s(0.1);
  const WindowResult inner = m.end("inner");
  sleep_s(0.1);
  const WindowResult outer = m.end("outer");
  sleep_s(0.05);
  const WindowResult overlap = m.end("overlap");
  EXPECT_FALSE(m.is_open("outer"));
  for (const WindowResult* w : {&inner, &outer, &overlap}) {
    const double exact = rig.sensor->energy_j(0, w->start_s, w->end_s);
    EXPECT_NEAR(w->devices[0].integrated_j, exact, 0.01 * exact) << w->name;
  }
  EXPECT_LT(outer.start_s, inner.start_s);
  EXPECT_GT(outer.end_s, inner.end_s);
  EXPECT_GT(overlap.end_s, outer.end_s);
  EXPECT_GT(outer.devices[0].gross_j, inner.devices[0].gross_j);
}

TEST(MeterWindow, MisuseNamesTheWindow) {
  Rig rig = make({ramp()});
  rig.meter->begin("a");
  try {
    rig.meter->begin("a");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'a' is already open"), std::string::npos);
  }
  try {
    rig.meter->end("b");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'b' was never begun"), std::string::npos);
  }
  rig.meter->end("a");
  EXPECT_THROW(rig.meter->end("a"), std::runtime_error);
}

TEST(MeterWindow, IdleBaselineIsSubtracted) {
  ScriptedDevice d;
  d.power = {{0.0, 60}, {0.25, 60}, {0.26, 260}};  // idle 60 W, then 200 W above idle
  Rig rig = make({d});
  const auto idle = rig.meter->measure_idle(0.2);
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_NEAR(idle[0], 60.0, 0.6);
  sleep_s(0.1);
  rig.meter->begin("load");
  sleep_s(0.3);
  const WindowResult r = rig.meter->end("load");
  const DeviceEnergy& e = r.devices[0];
  EXPECT_NEAR(e.idle_power_w, idle[0], 1e-12);
  EXPECT_NEAR(e.net_j, e.gross_j - idle[0] * r.duration_s, 1e-9);
  EXPECT_NEAR(e.net_j, 200.0 * r.duration_s, 0.01 * 200.0 * r.duration_s);
  EXPECT_NEAR(r.net_j(), e.net_j, 1e-12);
}

TEST(MeterWindow, ShortWindowIsFlagged) {
  ScriptedDevice d = ramp();
  d.counter_period_s = 0.05;  // 20 Hz counter: a 0.2 s window sees ~4 updates
  Rig rig = make({d});
  rig.meter->begin("short");
  sleep_s(0.2);
  const WindowResult r = rig.meter->end("short");
  EXPECT_TRUE(r.devices[0].too_short);
  EXPECT_LT(r.devices[0].counter_updates, 10);
  EXPECT_GE(r.devices[0].counter_updates, 2);
}

TEST(MeterWindow, DeviceWithoutCounterFallsBackAndSaysSo) {
  ScriptedDevice with = ramp(), without = ramp();
  without.has_counter = false;
  Rig rig = make({with, without});
  rig.meter->begin("w");
  sleep_s(0.3);
  const WindowResult r = rig.meter->end("w");
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_FALSE(r.devices[0].fallback_used);
  EXPECT_TRUE(r.devices[1].fallback_used);
  EXPECT_EQ(r.devices[1].source, "timeline");
  EXPECT_TRUE(std::isnan(r.devices[1].counter_j));
  const double exact = rig.sensor->energy_j(1, r.start_s, r.end_s);
  EXPECT_NEAR(r.devices[1].gross_j, exact, 0.005 * exact);
  EXPECT_NEAR(r.gross_j(), r.devices[0].gross_j + r.devices[1].gross_j, 1e-9);
}

TEST(MeterWindow, CounterResetInsideAWindow) {
  ScriptedDevice d;
  d.power = {{0.0, 150}};
  Rig rig = make({d});
  // Reset 0.15 s after the window begins (script time measured from the sensor's origin).
  rig.meter->begin("w");
  sleep_s(0.3);
  const WindowResult r = rig.meter->end("w");
  EXPECT_FALSE(r.devices[0].counter_reset);  // no reset scripted here: control

  ScriptedDevice resetting = d;
  resetting.reset_at_s = 0.15;
  Rig rig2 = make({resetting});
  rig2.meter->begin("w");
  sleep_s(0.3);
  const WindowResult r2 = rig2.meter->end("w");
  EXPECT_TRUE(r2.devices[0].counter_reset);
  EXPECT_NEAR(r2.devices[0].counter_j, 150 * r2.duration_s, 0.01 * 150 * r2.duration_s);
}

TEST(MeterWindow, WithoutGpuWindowsStillTime) {
  MeterOptions o = fast();
  o.use_gpu = false;
  Meter m(o);
  EXPECT_FALSE(m.gpu_available());
  EXPECT_FALSE(m.gpu_unavailable_reason().empty());
  m.begin("w");
  sleep_s(0.05);
  const WindowResult r = m.end("w");
  EXPECT_FALSE(r.gpu_available);
  EXPECT_TRUE(r.devices.empty());
  EXPECT_TRUE(std::isnan(r.gross_j()));
  EXPECT_GE(r.duration_s, 0.05);
}

TEST(MeterWindow, BadOptionsAreRejected) {
  MeterOptions o = fast();
  o.interval_s = -1;
  EXPECT_THROW(Meter(o, nullptr), std::runtime_error);
  o = fast();
  o.tolerance = 0;
  EXPECT_THROW(Meter(o, nullptr), std::runtime_error);
}

TEST(MeterWindow, SamplerFillsTheTimelineAtItsInterval) {
  MeterOptions o = fast();
  o.interval_s = 0.01;
  Rig rig = make({ramp(), ramp()}, o);
  sleep_s(0.25);
  rig.meter->stop();
  const auto t = rig.meter->timeline();
  // ~25 ticks x 2 devices; generous bounds for a loaded CI machine.
  EXPECT_GE(t.size(), 20u);
  EXPECT_LE(t.size(), 60u);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_LE(t[i - 1].t, t[i].t);
}

}  // namespace
}  // namespace eco::meter
