// How long an aligned window must last: N counter periods, never less than N sampler intervals.
#include <gtest/gtest.h>

#include "bench/counter_period.h"

namespace eco::bench {
namespace {

TEST(WindowTarget, IsUpdatesTimesTheLongerOfCounterPeriodAndSamplerInterval) {
  ProtocolOptions p;
  p.sample_interval_s = 0.1;
  EXPECT_DOUBLE_EQ(window_target_s(10, 0.1, p), 1.0);   // NVML: 100 ms counter, 10 Hz sampler
  EXPECT_DOUBLE_EQ(window_target_s(10, 0.2, p), 2.0);   // a slower counter: 10 of its updates
  EXPECT_DOUBLE_EQ(window_target_s(10, 0.02, p), 1.0);  // a faster one: the sampler's floor
  EXPECT_DOUBLE_EQ(window_target_s(5, 0.0, p), 0.5);    // unknown period: the floor alone
}

}  // namespace
}  // namespace eco::bench
