// The arithmetic of a window on hand-made timelines: every expected value is worked out in the
// comments, not taken from the code under test.
#include "meter/energy_math.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace eco::meter {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Sample at(double t, double watts, double energy_mj = kNaN) {
  Sample s;
  s.t = t;
  s.watts = watts;
  s.energy_mj = energy_mj;
  s.temperature_c = s.sm_clock_mhz = s.mem_clock_mhz = s.avg_watts = kNaN;
  return s;
}

TEST(Trapezoid, IrregularTimestampsOnALinearRampAreExact) {
  // P(t) = 100 + 50 t on [0, 1]: integral = 100 + 25 = 125 J, whatever the spacing.
  std::vector<Sample> s;
  for (double t : {0.0, 0.07, 0.1, 0.35, 0.36, 0.9, 1.0}) s.push_back(at(t, 100 + 50 * t));
  EXPECT_NEAR(trapezoid_j(s), 125.0, 1e-9);
}

TEST(Trapezoid, IrregularStepsByHand) {
  // (0,10) (0.5,30) (2,30) (2.25,0): 0.5*20 + 1.5*30 + 0.25*15 = 10 + 45 + 3.75 = 58.75 J.
  std::vector<Sample> s = {at(0, 10), at(0.5, 30), at(2, 30), at(2.25, 0)};
  EXPECT_NEAR(trapezoid_j(s), 58.75, 1e-12);
}

TEST(Trapezoid, SkipsMissingReadingsAndNeedsTwo) {
  // The NaN sample is bridged: (0,100)-(1,100) = 100 J.
  std::vector<Sample> s = {at(0, 100), at(0.5, kNaN), at(1, 100)};
  EXPECT_NEAR(trapezoid_j(s), 100.0, 1e-12);
  EXPECT_TRUE(std::isnan(trapezoid_j(std::vector<Sample>{at(0, 100)})));
  EXPECT_TRUE(std::isnan(trapezoid_j(std::vector<Sample>{})));
}

TEST(WrappedDelta, WrapsAtTheRangeAndFlagsResetsWithoutOne) {
  EXPECT_DOUBLE_EQ(wrapped_delta(100, 250, 1000), 150);
  // 262143328850 is a real max_energy_range_uj; 100 uJ before the wrap and 400 after: 500 uJ.
  EXPECT_DOUBLE_EQ(wrapped_delta(262143328750.0, 400, 262143328850.0), 500);
  EXPECT_TRUE(std::isnan(wrapped_delta(900, 100, 0)));
}

TEST(CounterEnergy, CountsUpdatesNotSamples) {
  // Counter refreshes less often than sampled: values 0,0,5000,5000,5000,9000 mJ.
  std::vector<Sample> s = {at(0, 50, 0),      at(0.1, 50, 0),    at(0.2, 50, 5000),
                           at(0.3, 50, 5000), at(0.4, 50, 5000), at(0.5, 50, 9000)};
  const CounterEnergy c = counter_energy(s);
  EXPECT_DOUBLE_EQ(c.joules, 9.0);
  EXPECT_EQ(c.updates, 2);
  EXPECT_FALSE(c.reset);
}

TEST(CounterEnergy, ResetSumsBothSidesAndBridgesTheGap) {
  // 100 W throughout. Counter: 1000 mJ at t=0, +10 J per 0.1 s up to t=0.5 (51000 mJ);
  // reset to 0 at some point in (0.5, 0.6), reading 3000 mJ at t=0.6, then +10 J per 0.1 s.
  // Before: 50 J. Gap 0.5..0.6 bridged by the trapezoid: 10 J. After: 43000-3000 mJ = 40 J.
  std::vector<Sample> s;
  for (int i = 0; i <= 5; ++i) s.push_back(at(0.1 * i, 100, 1000 + 10000.0 * i));
  for (int i = 6; i <= 10; ++i) s.push_back(at(0.1 * i, 100, 3000 + 10000.0 * (i - 6)));
  const CounterEnergy c = counter_energy(s);
  EXPECT_TRUE(c.reset);
  EXPECT_NEAR(c.joules, 100.0, 1e-9);
  EXPECT_EQ(c.updates, 10);
}

TEST(CounterEnergy, SkipsFailedReadingsAndNeedsTwo) {
  std::vector<Sample> s = {at(0, 1, 1000), at(0.1, 1, kNaN), at(0.2, 1, 4000)};
  EXPECT_DOUBLE_EQ(counter_energy(s).joules, 3.0);
  EXPECT_TRUE(std::isnan(counter_energy(std::vector<Sample>{at(0, 1, 5)}).joules));
}

std::vector<Sample> steady_window(int n, double watts, double counter_watts) {
  // n+1 samples 0.1 s apart, power `watts`, counter rising at `counter_watts`.
  std::vector<Sample> s;
  for (int i = 0; i <= n; ++i) s.push_back(at(0.1 * i, watts, 100.0 * counter_watts * i));
  return s;
}

TEST(SummarizeDevice, IdleSubtractionAndMeanPower) {
  // 20 samples over 2 s at 300 W; counter agrees. Idle 80 W: net = 600 - 160 = 440 J.
  const auto s = steady_window(20, 300, 300);
  const DeviceEnergy d = summarize_device(s, 2.0, 80.0, WindowPolicy{});
  EXPECT_EQ(d.source, "counter");
  EXPECT_NEAR(d.gross_j, 600.0, 1e-9);
  EXPECT_NEAR(d.integrated_j, 600.0, 1e-9);
  EXPECT_NEAR(d.net_j, 440.0, 1e-9);
  EXPECT_NEAR(d.mean_power_w, 300.0, 1e-9);
  EXPECT_DOUBLE_EQ(d.peak_power_w, 300.0);
  EXPECT_EQ(d.counter_updates, 20);
  EXPECT_FALSE(d.too_short);
  EXPECT_FALSE(d.disagreement);
  EXPECT_FALSE(d.fallback_used);
}

TEST(SummarizeDevice, NoBaselineMeansNoNetFigure) {
  const DeviceEnergy d = summarize_device(steady_window(20, 300, 300), 2.0, kNaN, {});
  EXPECT_TRUE(std::isnan(d.net_j));
  EXPECT_TRUE(std::isfinite(d.gross_j));
}

TEST(SummarizeDevice, TooShortBelowTenUpdates) {
  EXPECT_TRUE(summarize_device(steady_window(9, 300, 300), 0.9, 0, {}).too_short);
  EXPECT_FALSE(summarize_device(steady_window(10, 300, 300), 1.0, 0, {}).too_short);
  WindowPolicy strict;
  strict.min_counter_updates = 30;
  EXPECT_TRUE(summarize_device(steady_window(20, 300, 300), 2.0, 0, strict).too_short);
}

TEST(SummarizeDevice, DisagreementBeyondTolerance) {
  // Counter 300 W vs timeline 280 W: 6.7 % apart -> flagged at 5 %, not at 10 %.
  const auto s = steady_window(20, 280, 300);
  EXPECT_TRUE(summarize_device(s, 2.0, 0, {}).disagreement);
  WindowPolicy loose;
  loose.tolerance = 0.10;
  EXPECT_FALSE(summarize_device(s, 2.0, 0, loose).disagreement);
  // 3 % apart: within the default tolerance.
  EXPECT_FALSE(summarize_device(steady_window(20, 291, 300), 2.0, 0, {}).disagreement);
}

TEST(SummarizeDevice, FallsBackToTheTimelineWithoutCounter) {
  auto s = steady_window(20, 250, 0);
  for (auto& x : s) x.energy_mj = kNaN;
  WindowPolicy no_counter;
  no_counter.has_counter = false;
  const DeviceEnergy d = summarize_device(s, 2.0, 50, no_counter);
  EXPECT_TRUE(d.fallback_used);
  EXPECT_EQ(d.source, "timeline");
  EXPECT_NEAR(d.gross_j, 500.0, 1e-9);
  EXPECT_NEAR(d.net_j, 400.0, 1e-9);
  EXPECT_TRUE(std::isnan(d.counter_j));
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes.front().find("no energy counter"), std::string::npos);
}

TEST(SummarizeDevice, ResetIsFlaggedAndNoted) {
  std::vector<Sample> s;
  for (int i = 0; i <= 5; ++i) s.push_back(at(0.1 * i, 100, 1000 + 10000.0 * i));
  for (int i = 6; i <= 12; ++i) s.push_back(at(0.1 * i, 100, 10000.0 * (i - 6)));
  const DeviceEnergy d = summarize_device(s, 1.2, kNaN, {});
  EXPECT_TRUE(d.counter_reset);
  EXPECT_NEAR(d.gross_j, 50 + 10 + 60, 1e-9);
  EXPECT_NE(d.notes.front().find("counter reset"), std::string::npos);
}

TEST(SummarizeDevice, StartAndEndReadings) {
  auto s = steady_window(10, 100, 100);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i].temperature_c = 40.0 + static_cast<double>(i);
    s[i].sm_clock_mhz = 1000.0 + static_cast<double>(i);
  }
  s.front().sm_clock_mhz = kNaN;  // a failed first read: the first valid one counts
  const DeviceEnergy d = summarize_device(s, 1.0, kNaN, {});
  EXPECT_DOUBLE_EQ(d.temp_start_c, 40);
  EXPECT_DOUBLE_EQ(d.temp_end_c, 50);
  EXPECT_DOUBLE_EQ(d.sm_clock_start_mhz, 1001);
  EXPECT_DOUBLE_EQ(d.sm_clock_end_mhz, 1010);
  EXPECT_TRUE(std::isnan(d.mem_clock_start_mhz));
}

}  // namespace
}  // namespace eco::meter

namespace eco::meter {
namespace {

TEST(SummarizeDevice, ReadingsThatStopBeforeTheEndAreIncomplete) {
  std::vector<Sample> s = steady_window(20, 100, 100);
  EXPECT_FALSE(summarize_device(s, 2.0, kNaN, {}).incomplete);
  s.back().watts = kNaN;
  s.back().energy_mj = kNaN;  // lost at the end boundary
  const DeviceEnergy d = summarize_device(s, 2.0, kNaN, {});
  EXPECT_TRUE(d.incomplete);
  EXPECT_NE(d.notes.back().find("only part"), std::string::npos);
}

}  // namespace
}  // namespace eco::meter
