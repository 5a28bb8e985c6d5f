// counter_stats on hand-made change times: period, phase, jitter and missed updates.
#include "meter/counter_watch.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace eco::meter {
namespace {

CounterChange at(double t, double increment_mj, double half_width = 0.0001) {
  return {t, half_width, 0, increment_mj};
}

TEST(CounterStats, ExactPeriodAndPhase) {
  // Changes at 1000.037 + 0.1 k: period 100 ms, phase 1000.037 mod 0.1 = 37 ms, no jitter.
  // Each increment 30000 mJ over 0.1 s: 300 W.
  std::vector<CounterChange> c;
  for (int k = 0; k < 20; ++k) c.push_back(at(1000.037 + 0.1 * k, 30000));
  const CounterStats s = counter_stats(c);
  EXPECT_EQ(s.changes, 20);
  EXPECT_NEAR(s.period_s, 0.1, 1e-9);
  EXPECT_NEAR(s.phase_s, 0.037, 1e-6);
  EXPECT_NEAR(s.jitter_sd_s, 0.0, 1e-9);
  EXPECT_NEAR(s.gap_mean_s, 0.1, 1e-9);
  EXPECT_NEAR(s.power_mean_w, 300.0, 1e-6);
  EXPECT_NEAR(s.bracket_mean_s, 0.0001, 1e-12);
  EXPECT_EQ(s.skipped, 0);
}

TEST(CounterStats, JitterAroundTheFitAndAMissedUpdate) {
  // Period 0.1 s with residuals +2, -2, +2, -2 ... ms (sd 2 ms, max 2 ms); update 5 missing.
  std::vector<CounterChange> c;
  for (int k = 0; k < 12; ++k) {
    if (k == 5) continue;
    c.push_back(at(5.0 + 0.1 * k + (k % 2 == 0 ? 0.002 : -0.002), 20000));
  }
  const CounterStats s = counter_stats(c);
  EXPECT_EQ(s.skipped, 1);  // the 0.2 s gap counts as two periods, not a slower counter
  EXPECT_NEAR(s.period_s, 0.1, 0.001);
  EXPECT_NEAR(s.jitter_sd_s, 0.002, 0.0003);
  EXPECT_NEAR(s.jitter_max_s, 0.002, 0.001);  // the missing update unbalances the fit a little
  EXPECT_NEAR(s.gap_max_s, 0.2, 1e-9);        // k = 4 (+2 ms) to k = 6 (+2 ms)
}

TEST(CounterStats, TooFewChangesAreNaN) {
  const CounterStats s = counter_stats({at(1.0, 1), at(1.1, 1)});
  EXPECT_EQ(s.changes, 2);
  EXPECT_TRUE(std::isnan(s.period_s));
  EXPECT_TRUE(std::isnan(s.jitter_sd_s));
}

}  // namespace
}  // namespace eco::meter
