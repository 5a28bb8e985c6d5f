// Update-aligned windows against a scripted counter that changes every 20 ms with a phase offset
// and jitter (the logic does not depend on the period; 100 ms on real boards would only make the
// tests slower). The scripted energy between any two instants is exact.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ecocompute/meter.h"
#include "meter/scripted_sensor.h"

namespace eco::meter {
namespace {

constexpr double kPeriod = 0.020, kPhase = 0.007, kJitter = 0.003;
constexpr double kWatts = 250;
constexpr double kUpdateJ = kWatts * kPeriod;  // energy of one counter update: 5 J

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

ScriptedDevice stepping_counter() {
  ScriptedDevice d;
  d.power = {{0.0, kWatts}};
  d.counter_period_s = kPeriod;
  d.counter_phase_s = kPhase;
  d.counter_jitter_s = kJitter;
  return d;
}

struct Rig {
  ScriptedSensor* sensor;
  std::unique_ptr<Meter> meter;
};

Rig make(std::vector<ScriptedDevice> devices) {
  MeterOptions o;
  o.interval_s = 0.002;
  o.use_host = false;
  auto sensor = std::make_unique<ScriptedSensor>(std::move(devices));
  ScriptedSensor* raw = sensor.get();
  return {raw, std::make_unique<Meter>(o, std::move(sensor))};
}

WindowOptions aligned() {
  WindowOptions o;
  o.aligned = true;
  return o;
}

// Windows of several lengths so that plain windows meet the counter at many phases.
const std::vector<double> kLengths = {0.043, 0.061, 0.077, 0.095, 0.112, 0.129, 0.146, 0.163};

TEST(AlignedWindow, RecoversTheScriptedEnergyWherePlainWindowsAreOffByUpToAnUpdate) {
  Rig rig = make({stepping_counter()});
  double worst_aligned = 0, worst_plain = 0;
  std::vector<double> tails;
  for (double length : kLengths) {
    rig.meter->begin("aligned", aligned());
    sleep_s(length);
    const double end_called = steady_seconds();
    const WindowResult a = rig.meter->end("aligned");
    const double end_returned = steady_seconds();
    const DeviceEnergy& d = a.devices.at(0);
    const double exact = rig.sensor->energy_j(0, a.start_s, a.end_s);
    ASSERT_TRUE(d.aligned) << (d.notes.empty() ? "" : d.notes[0]);
    EXPECT_EQ(d.source, "counter");
    EXPECT_LE(std::fabs(d.gross_j - exact), d.uncertainty_j) << "length " << length;
    // The residual is a small part of one update even on a busy machine (1 ms polling).
    EXPECT_LT(d.uncertainty_j, 0.5 * kUpdateJ);
    // The tail ends at the change that end() waited for, so it lies inside the call.
    EXPECT_GE(d.tail_s, 0.0);
    EXPECT_LE(d.tail_s, end_returned - end_called);
    tails.push_back(d.tail_s);
    worst_aligned = std::max(worst_aligned, std::fabs(d.gross_j - exact));

    rig.meter->begin("plain");
    sleep_s(length);
    const WindowResult p = rig.meter->end("plain");
    const DeviceEnergy& q = p.devices.at(0);
    const double exact_plain = rig.sensor->energy_j(0, p.start_s, p.end_s);
    EXPECT_FALSE(q.aligned);
    // Off by at most one update (plus jitter) at each end, and within its own stated bound.
    EXPECT_LE(std::fabs(q.gross_j - exact_plain), 2 * kWatts * (kPeriod + kJitter));
    EXPECT_LE(std::fabs(q.gross_j - exact_plain), q.uncertainty_j + 1e-6);
    worst_plain = std::max(worst_plain, std::fabs(q.gross_j - exact_plain));
  }
  EXPECT_LT(worst_aligned, worst_plain);
  EXPECT_GT(worst_plain, 0.2 * kUpdateJ);  // eight random phases: at least one is far off
  // About one update at most; a loaded host that preempts the polling (the wait then goes on to
  // the next change) stretches a few windows' tails, not the median.
  std::sort(tails.begin(), tails.end());
  EXPECT_LE(tails[tails.size() / 2], kPeriod + kJitter + 0.05);
}

TEST(AlignedWindow, WorkStartsRightAfterACounterChangeAndTheTailIsRemoved) {
  Rig rig = make({stepping_counter()});
  std::vector<double> start_phase;
  int tail_mattered = 0;
  for (double length : kLengths) {
    rig.meter->begin("w", aligned());
    sleep_s(length);
    const WindowResult r = rig.meter->end("w");
    const DeviceEnergy& d = r.devices.at(0);
    const double script_start = r.start_s - rig.sensor->origin();
    start_phase.push_back(script_start -
                          ScriptedSensor::last_change(stepping_counter(), script_start));
    // The counter ran on to its next change after the work: that tail's energy is removed.
    const double tail_j = rig.sensor->energy_j(0, r.end_s, r.end_s + d.tail_s);
    const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
    EXPECT_LE(std::fabs(d.gross_j - exact), d.uncertainty_j);
    if (tail_j > 2 * d.uncertainty_j) {
      ++tail_mattered;
      EXPECT_GT(std::fabs(d.gross_j + tail_j - exact), 0.5 * tail_j);  // uncorrected: off by it
    }
  }
  std::sort(start_phase.begin(), start_phase.end());
  EXPECT_LT(start_phase[start_phase.size() / 2], 0.25 * kPeriod);  // median: soon after a change
  EXPECT_GE(tail_mattered, 2);
}

// The counter change that ends one window begins the next when it comes right after: no wait
// for a further change, the head from that change to the work removed, the energy still exact.
TEST(AlignedWindow, BackToBackWindowsShareTheChangeBetweenThem) {
  Rig rig = make({stepping_counter()});
  auto change_at_end = [](const WindowResult& r) { return r.end_s + r.devices.at(0).tail_s; };
  auto change_at_start = [](const WindowResult& r) { return r.start_s - r.devices.at(0).head_s; };
  for (double reuse : {0.05, 0.0}) {
    WindowOptions o = aligned();
    o.reuse_change_s = reuse;
    rig.meter->begin("a", o);
    sleep_s(0.031);
    const WindowResult a = rig.meter->end("a");
    rig.meter->begin("b", o);
    sleep_s(0.027);
    const WindowResult b = rig.meter->end("b");
    for (const WindowResult* r : {&a, &b}) {
      const DeviceEnergy& d = r->devices.at(0);
      ASSERT_TRUE(d.aligned) << (d.notes.empty() ? "" : d.notes[0]);
      EXPECT_LE(std::fabs(d.gross_j - rig.sensor->energy_j(0, r->start_s, r->end_s)),
                d.uncertainty_j)
          << "reuse " << reuse;
      EXPECT_LT(d.uncertainty_j, 0.5 * kUpdateJ);
    }
    const double gap = change_at_start(b) - change_at_end(a);
    if (reuse > 0) {
      EXPECT_NEAR(gap, 0.0, 1e-3);  // the same change
      EXPECT_LE(b.devices[0].head_s, reuse + 0.005);
    } else {
      EXPECT_GT(gap, 0.5 * kPeriod);  // waited for the next one
    }
  }
  // A change older than reuse_change_s is not reused either.
  WindowOptions o = aligned();
  o.reuse_change_s = 0.005;
  rig.meter->begin("c", o);
  sleep_s(0.01);
  const WindowResult c = rig.meter->end("c");
  sleep_s(0.012);
  rig.meter->begin("d", o);
  const WindowResult d = rig.meter->end("d");
  EXPECT_GT(change_at_start(d) - change_at_end(c), 0.5 * kPeriod);
  EXPECT_THROW(rig.meter->begin("e",
                                [] {
                                  WindowOptions bad = aligned();
                                  bad.reuse_change_s = -1;
                                  return bad;
                                }()),
               std::runtime_error);
}

// An idle baseline of a few updates: the plain window's counter holds a whole number of
// updates (2 or 3 of about 4 J here: 69 W or less, 93 W or more, for 80 W), the aligned one
// the energy itself.
TEST(AlignedWindow, AlignedIdleBaselineHasNoQuantisation) {
  ScriptedDevice idle = stepping_counter();
  idle.power = {{0.0, 80.0}};
  idle.counter_period_s = 0.05;
  idle.counter_jitter_s = 0.002;
  Rig rig = make({idle});
  for (int i = 0; i < 2; ++i) {
    const double plain = rig.meter->measure_idle(0.12).at(0);
    EXPECT_GT(std::fabs(plain - 80.0), 5.0) << plain;  // at least 11 W off, by the arithmetic
    const double aligned_w = rig.meter->measure_idle(0.12, aligned()).at(0);
    EXPECT_NEAR(aligned_w, 80.0, 0.8);
    EXPECT_DOUBLE_EQ(rig.meter->idle_power().at(0), aligned_w);
  }
}

TEST(AlignedWindow, ShortWorkInsideOneUpdateIsStillMeasured) {
  Rig rig = make({stepping_counter()});
  ScopedWindow w(*rig.meter, "short", aligned());
  sleep_s(0.006);  // less than a third of an update
  const WindowResult r = w.end();
  const DeviceEnergy& d = r.devices.at(0);
  ASSERT_TRUE(d.aligned);
  const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
  EXPECT_GT(d.gross_j, 0.0);
  EXPECT_LE(std::fabs(d.gross_j - exact), d.uncertainty_j);
}

// Work that ends with the power reading still showing it: the reading refreshes only with the
// counter (as an H200's does, about every 100 ms), so through the tail after the work it holds
// the work's 560 W while the board draws 118 W. Each pulse of work ends 3 ms after a counter
// change, so the tail is most of a period. The test does the work between begin() and end()
// itself: it begins inside a pulse and ends when the pulse ends. A window whose end() came more
// than 2 ms late (a loaded host) does not test the tail, and the next pulse is used.
TEST(AlignedWindow, TailIsTakenFromTheCounterWhenThePowerReadingLagsTheWork) {
  constexpr double kLoad = 560, kAfter = 118;
  constexpr int kPulses = 8;
  ScriptedDevice d = stepping_counter();
  d.counter_jitter_s = 0.0003;  // 1.5 % of the period, as the H200's change times
  d.power_refresh_s = kPeriod;
  std::vector<double> pulse_ends;
  d.power = {{0.0, kAfter}};
  for (int i = 0; i < kPulses; ++i) {
    const double end = ScriptedSensor::last_change(d, 0.25 + 0.25 * i) + 0.003;
    pulse_ends.push_back(end);
    d.power.insert(
        d.power.end(),
        {{end - 0.2, kAfter}, {end - 0.1995, kLoad}, {end, kLoad}, {end + 0.0005, kAfter}});
  }
  Rig rig = make({d});
  size_t next = 0;
  // One window over the next pulse whose end() came in time; false when none is left.
  auto window_over_a_pulse = [&](double period, WindowResult& r, double& late) {
    while (next < pulse_ends.size()) {
      const double pulse_end = rig.sensor->origin() + pulse_ends[next++];
      std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(pulse_end - 0.17))));
      WindowOptions o = aligned();
      o.counter_period_s = period;
      rig.meter->begin("w", o);
      sleep_s(pulse_end - steady_seconds());
      r = rig.meter->end("w");
      late = r.end_s - pulse_end;
      if (r.start_s < pulse_end - 2 * kPeriod && late >= 0 && late < 0.002) return true;
    }
    return false;
  };
  WindowResult r;
  double late = 0;
  if (!window_over_a_pulse(kPeriod, r, late)) GTEST_SKIP() << "end() was late at every pulse";
  const DeviceEnergy& e = r.devices.at(0);
  ASSERT_TRUE(e.aligned) << (e.notes.empty() ? "" : e.notes[0]);
  EXPECT_TRUE(e.notes.empty()) << e.notes[0];
  // What the stale readings would take off too much: the tail after the pulse at 442 W, about
  // 17 ms: 7.5 J. The counter's rule counts the late part at the work's rate.
  const double stale_j = (e.tail_s - late) * (kLoad - kAfter);
  ASSERT_GT(stale_j, 3.0) << "tail " << e.tail_s;
  const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
  EXPECT_LE(std::fabs(e.gross_j - exact), e.uncertainty_j + late * (kLoad - kAfter))
      << "tail " << e.tail_s << " s, late " << late << " s";
  EXPECT_LT(e.uncertainty_j, 0.5 * stale_j);

  // The same without the period: the readings' rule takes off too much.
  if (!window_over_a_pulse(0, r, late)) GTEST_SKIP() << "end() was late at every pulse";
  const DeviceEnergy& f = r.devices.at(0);
  const double stale_f = (f.tail_s - late) * (kLoad - kAfter);
  EXPECT_GT(rig.sensor->energy_j(0, r.start_s, r.end_s) - f.gross_j, 0.5 * stale_f);
  EXPECT_GT(stale_f, 3.0);
}

TEST(AlignedWindow, CounterThatDoesNotChangeFallsBackToAPlainWindowAndSaysSo) {
  ScriptedDevice frozen = stepping_counter();
  frozen.counter_period_s = 30;  // no change within any test's lifetime
  frozen.counter_phase_s = 10;
  ScriptedDevice no_counter = stepping_counter();
  no_counter.has_counter = false;
  Rig rig = make({frozen, no_counter, stepping_counter()});
  WindowOptions o = aligned();
  o.align_timeout_s = 0.05;
  rig.meter->begin("w", o);
  sleep_s(0.05);
  const WindowResult r = rig.meter->end("w");
  ASSERT_EQ(r.devices.size(), 3u);
  auto has = [](const DeviceEnergy& d, const std::string& part) {
    return std::any_of(d.notes.begin(), d.notes.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
  };
  EXPECT_FALSE(r.devices[0].aligned);
  EXPECT_TRUE(has(r.devices[0], "did not change within 0.05 s at the window's start"));
  EXPECT_FALSE(r.devices[1].aligned);
  EXPECT_TRUE(has(r.devices[1], "no energy counter"));
  EXPECT_TRUE(r.devices[2].aligned);  // the working device still aligns
  // The frozen counter shows no change: the figure comes from the timeline, flagged.
  EXPECT_EQ(r.devices[0].source, "timeline");
  EXPECT_TRUE(r.devices[0].too_short);
  const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
  EXPECT_NEAR(r.devices[0].gross_j, exact, 0.01 * exact);
  // Waiting for a counter that never changes costs the timeout at each end, no more.
  EXPECT_LT(r.duration_s, 0.05 + 0.05 + 0.5);
}

TEST(PlainWindow, ShorterThanOneCounterUpdateReportsTheTimelineFlagged) {
  ScriptedDevice slow = stepping_counter();
  slow.counter_period_s = 30;  // the counter cannot change inside the window
  slow.counter_phase_s = 10;
  Rig rig = make({slow});
  rig.meter->begin("blip");
  sleep_s(0.03);
  const WindowResult r = rig.meter->end("blip");
  const DeviceEnergy& d = r.devices.at(0);
  EXPECT_EQ(d.counter_updates, 0);
  EXPECT_DOUBLE_EQ(d.counter_j, 0.0);  // what the counter said
  EXPECT_EQ(d.source, "timeline");     // what is reported instead of 0 J
  EXPECT_TRUE(d.fallback_used);
  EXPECT_TRUE(d.too_short);
  const double exact = rig.sensor->energy_j(0, r.start_s, r.end_s);
  EXPECT_NEAR(d.gross_j, exact, 0.01 * exact);
  EXPECT_GT(d.gross_j, 5.0);
}

}  // namespace
}  // namespace eco::meter
