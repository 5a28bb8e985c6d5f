// The arithmetic of update-aligned windows on hand-made edges and readings; every expected value
// is worked out in the comments.
#include "meter/aligned.h"

#include <algorithm>
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
  return s;
}

CounterEdge edge(double t, double half_width, double before_mj, double value_mj,
                 std::vector<Sample> readings = {}) {
  CounterEdge e;
  e.seen = true;
  e.t = t;
  e.half_width_s = half_width;
  e.before_mj = before_mj;
  e.value_mj = value_mj;
  e.readings = std::move(readings);
  return e;
}

TEST(AlignedEnergy, ConstantPowerRemovesHeadAndTail) {
  // 200 W throughout. Start edge at 1.0000 s, work from 1.0008 to 1.5 s, end edge at 1.5123 s.
  // Counter span 1.0000 -> 1.5123 s = 0.5123 s x 200 W = 102.46 J (102460 mJ).
  // Head 0.0008 s x 200 = 0.16 J, tail 0.0123 s x 200 = 2.46 J: work = 99.84 J = 200 x 0.4992.
  AlignedInput in;
  in.start_edge = edge(1.0, 0.0005, 9000, 10000, {at(0.99, 200), at(1.0004, 200)});
  in.end_edge = edge(1.5123, 0.0005, 110000, 112460, {at(1.506, 200), at(1.5125, 200)});
  in.start = at(1.0008, 200);
  in.end = at(1.5, 200);
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.problem.empty()) << a.problem;
  EXPECT_NEAR(a.joules, 99.84, 1e-9);
  EXPECT_NEAR(a.head_s, 0.0008, 1e-12);
  EXPECT_NEAR(a.tail_s, 0.0123, 1e-12);
  // Brackets: 200 W x 0.5 ms at each end = 0.2 J; readings 5 % of (0.16 + 2.46) = 0.131 J;
  // whole millijoules at both ends 0.002 J: 0.333 J.
  EXPECT_NEAR(a.uncertainty_j, 0.333, 1e-9);
}

TEST(AlignedEnergy, TailIsIntegratedFromTheReadingsNotTheWindowRate) {
  // 400 W work from 0 to 2 s, then the power falls to 100 W within 1 ms and stays there until
  // the end edge at 2.03 s. Counter span: 400 x 2 + tail. Tail by the readings:
  // 0.5 x (400 + 100) x 0.001 = 0.25 J, then 100 W x 0.029 s = 2.9 J: 3.15 J.
  // The counter span is scripted as exactly work + that tail: 800 + 3.15 = 803.15 J.
  AlignedInput in;
  in.start_edge = edge(0.0, 0.0, 0, 5000, {at(0.0, 400)});
  in.end_edge = edge(2.03, 0.0, 600000, 5000 + 803150,
                     {at(2.001, 100), at(2.01, 100), at(2.02, 100), at(2.03, 100)});
  in.start = at(0.0, 400);
  in.end = at(2.0, 400);
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.problem.empty());
  EXPECT_NEAR(a.joules, 800.0, 1e-9);
  EXPECT_NEAR(a.tail_s, 0.03, 1e-12);
  // Removing the tail at the window's mean rate (803.15 / 2.03 = 395.6 W) would have taken
  // 11.87 J instead of 3.15 J: an 8.7 J (1.1 %) error that the readings avoid.
  EXPECT_GT(std::fabs((803.15 - 803.15 / 2.03 * 0.03) - 800.0), 8.0);
  EXPECT_NEAR(a.uncertainty_j, 0.05 * 3.15 + 0.002, 1e-9);
}

TEST(AlignedEnergy, WithoutPowerReadingsTheCounterRateStandsIn) {
  // No power anywhere: head and tail at the span's mean rate, 10000 mJ over 0.1 s = 100 W.
  // Work 0.01 -> 0.08 s: 100 W x 0.07 s = 7 J.
  AlignedInput in;
  in.start_edge = edge(0.0, 0.001, 0, 1000);
  in.end_edge = edge(0.1, 0.001, 9000, 11000);
  in.start = at(0.01, kNaN);
  in.end = at(0.08, kNaN);
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.problem.empty());
  EXPECT_NEAR(a.joules, 7.0, 1e-9);
  // 100 W x 1 ms x 2 + 5 % of (1 + 2) J + 0.002 J.
  EXPECT_NEAR(a.uncertainty_j, 0.2 + 0.15 + 0.002, 1e-9);
}

// A decode window as an H200 sees it (docs/METHODOLOGY.md, "Update-aligned windows"): counter
// changes every 100 ms at 0.0, 0.1, ... s; 118 W idle in the head [0, 0.004] and in the tail
// [1.310, 1.400]; 560 W work from 0.004 to 1.310 s (731.36 J). The power readings in the tail
// were refreshed inside the work and still show 560 W.
//   counter at the start edge: 1000000 mJ; at the change 1.3 s: + 118 x 0.004 + 560 x 1.296
//   = + 726.232 J; at 1.4 s: + 560 x 0.010 + 118 x 0.090 = + 16.22 J (the last increment).
AlignedInput stale_tail_window() {
  AlignedInput in;
  in.start_edge = edge(0.0, 0.002, 990000, 1000000, {at(-0.01, 118), at(0.001, 118)});
  in.end_edge = edge(1.4, 0.002, 1726232, 1742452,
                     {at(1.33, 560, 1726232), at(1.39, 560, 1726232), at(1.401, 560, 1742452)});
  in.start = at(0.004, 118, 1000000);
  in.end = at(1.310, 560, 1726232);
  in.inside = {in.start, at(1.15, 560, 1614232), at(1.25, 560, 1670232), in.end};
  return in;
}

TEST(AlignedEnergy, TailFromTheCounterIncrementWhenThePowerReadingIsStale) {
  AlignedInput in = stale_tail_window();
  // Without the period, the stale readings take 560 W x 0.09 s = 50.4 J off for a tail that
  // held 10.62 J: 742.452 - 0.472 - 50.4 = 691.58 J, 39.78 J (5.4 %) short.
  const AlignedEnergy readings = aligned_energy(in);
  EXPECT_FALSE(readings.tail_from_counter);
  EXPECT_NEAR(readings.joules, 691.58, 1e-9);
  // With it: the last change before the end edge is at 1.4 - 0.1 = 1.3 s; the work's rate is
  // (726.232 - 0.472 head) / (1.3 - 0.004) = 560 W; the last increment's work part is
  // 560 x (1.310 - 1.3) = 5.6 J, its tail 16.22 - 5.6 = 10.62 J: 742.452 - 0.472 - 10.62.
  in.counter_period_s = 0.1;
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.problem.empty()) << a.problem;
  EXPECT_TRUE(a.tail_from_counter) << a.tail_note;
  EXPECT_NEAR(a.tail_j, 10.62, 1e-9);
  EXPECT_NEAR(a.joules, 731.36, 1e-9);
  // Head as before: the span's mean rate 742.452 / 1.4 W (above the 118 W read) x 2 ms bracket,
  // 5 % of 0.472 J, 1 mJ at each end. Tail: where the last change lies, 3 % of the period plus
  // the end bracket (5 ms) at 560 W = 2.8 J, and 5 % of the 5.6 J work part.
  const double head = 742.452 / 1.4 * 0.002 + 0.05 * 0.472 + 0.002;
  EXPECT_NEAR(a.uncertainty_j, head + 560 * 0.005 + 0.05 * 5.6, 1e-9);
  EXPECT_LT(a.uncertainty_j, 0.01 * 731.36);
  EXPECT_GT(731.36 - readings.joules, 5 * a.uncertainty_j);
}

// The end wait passed over the change at 1.4 s (its bracket too wide: the thread was
// descheduled) and stopped at 1.5 s. Its readings show both changes, so the last change before
// the work's end is two periods before the end edge: 1.3 s, as before. 1.4 -> 1.5 s holds
// 118 W x 0.1 s = 11.8 J more, all tail.
TEST(AlignedEnergy, AChangeTheEndWaitPassedOverStillCounts) {
  AlignedInput in = stale_tail_window();
  in.counter_period_s = 0.1;
  in.end_edge = edge(1.5, 0.002, 1742452, 1754252,
                     {at(1.33, 560, 1726232), at(1.395, 560, 1726232), at(1.425, 560, 1742452),
                      at(1.49, 118, 1742452), at(1.501, 118, 1754252)});
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.tail_from_counter) << a.tail_note;
  EXPECT_NEAR(a.joules, 731.36, 1e-9);
  EXPECT_NEAR(a.tail_j, 10.62 + 11.8, 1e-9);
  // Where 1.3 s lies: the end bracket plus 3 % of the period for each of the two periods.
  const double head = 754.252 / 1.5 * 0.002 + 0.05 * 0.472 + 0.002;
  EXPECT_NEAR(a.uncertainty_j, head + 560 * (0.002 + 0.006) + 0.05 * 5.6, 1e-9);
}

// The work ended 1 ms before the change at 1.3 s, and the end sample read the counter after it:
// it shows the value of 1.3 s, whose last millisecond was already the tail (118 W). The rule
// then counts that millisecond at the work's rate (560 W) and is off by 0.442 J, inside its
// residual.
TEST(AlignedEnergy, AChangeRightAfterTheWorksEndIsTheLastOneBeforeIt) {
  AlignedInput in = stale_tail_window();
  in.counter_period_s = 0.1;
  // Work 0.004 -> 1.299 s at 560 W (725.2 J); 1.299 -> 1.4 s at 118 W (11.918 J).
  // Counter: at 1.3 s 1000000 + 0.472 + 725.2 + 0.118 J, at 1.4 s + 11.8 J.
  in.end = at(1.299, 560, 1725790);
  in.end_edge =
      edge(1.4, 0.002, 1725790, 1737590, {at(1.33, 560, 1725790), at(1.401, 118, 1737590)});
  in.inside = {in.start, at(1.25, 560, 1670232), in.end};
  const AlignedEnergy a = aligned_energy(in);
  ASSERT_TRUE(a.tail_from_counter) << a.tail_note;
  EXPECT_NEAR(a.joules, 725.2, 0.45);
  EXPECT_LE(std::fabs(a.joules - 725.2), a.uncertainty_j);
}

TEST(AlignedEnergy, APeriodThatDoesNotFitTheChangesFallsBackToTheReadingsAndSaysWhy) {
  AlignedInput in = stale_tail_window();
  // 150 ms puts the last change at 1.25 s, but a sample at 1.29 s still shows the value of the
  // change at 1.2 s: the counter changed again after 1.29 s, so the period is wrong.
  in.counter_period_s = 0.15;
  in.inside.push_back(at(1.29, 560, 1670232));
  std::sort(in.inside.begin(), in.inside.end(),
            [](const Sample& x, const Sample& y) { return x.t < y.t; });
  AlignedEnergy a = aligned_energy(in);
  EXPECT_FALSE(a.tail_from_counter);
  EXPECT_NE(a.tail_note.find("do not follow the given period"), std::string::npos);
  EXPECT_NEAR(a.joules, 691.58, 1e-9);  // the readings' figure

  // 50 ms: one change before the end edge would be at 1.35 s, after the work's end (1.31 s),
  // yet the end sample already showed that change's value.
  in = stale_tail_window();
  in.counter_period_s = 0.05;
  a = aligned_energy(in);
  EXPECT_FALSE(a.tail_from_counter);
  EXPECT_NE(a.tail_note.find("do not follow the given period"), std::string::npos);

  // Work inside a single period (1.304 -> 1.31 s, after the change at 1.3 s): no full period of
  // work to take its rate from.
  in = stale_tail_window();
  in.counter_period_s = 0.1;
  in.start_edge = edge(1.3, 0.002, 1670232, 1726232, {at(1.295, 560), at(1.301, 560)});
  in.start = at(1.304, 560, 1726232);
  in.inside = {in.start, in.end};
  a = aligned_energy(in);
  EXPECT_FALSE(a.tail_from_counter);
  EXPECT_NE(a.tail_note.find("shorter than one counter period"), std::string::npos);
}

TEST(AlignedEnergy, UnusableEdgesAreNamed) {
  AlignedInput in;
  in.start_edge = edge(0.0, 0.001, 0, 1000);
  in.end_edge = CounterEdge{};  // never changed
  in.start = at(0.0, 100);
  in.end = at(0.1, 100);
  EXPECT_NE(aligned_energy(in).problem.find("did not change"), std::string::npos);
  in.end_edge = edge(0.2, 0.001, 600, 700);  // below the start value: a reset
  EXPECT_NE(aligned_energy(in).problem.find("counter reset"), std::string::npos);
}

}  // namespace
}  // namespace eco::meter
