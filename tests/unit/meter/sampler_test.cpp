// The sampler's timed counter read, against a sensor whose power reading takes a while before
// the counter is read (as NVML's field read does on a real board), and the aligned wait that
// judges each change's bracket against the reads around it.
#include "meter/sampler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "meter/aligned.h"

namespace eco::meter {
namespace {

class SlowPowerSensor final : public GpuSensor {
 public:
  std::string unavailable_reason() const override { return ""; }
  std::string driver_version() const override { return "slow power"; }
  std::vector<DeviceInfo> devices() const override { return {DeviceInfo{}}; }
  Sample read(int device, std::vector<std::string>& errors) override {
    return read_counter(device, errors);
  }
  Sample read_counter(int device, std::vector<std::string>&) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the power reading
    Sample s;
    s.device = device;
    s.t = steady_seconds();  // the counter read starts here
    s.energy_mj = 1000;
    counter_read_at = s.t;
    return s;
  }
  double counter_read_at = 0;
};

// The bracket of a counter change starts where the counter read started, not where the call
// did: the power reading before it would otherwise widen every aligned window's edges.
TEST(Sampler, CounterReadStartsAtTheCounterNotAtThePowerReading) {
  SlowPowerSensor sensor;
  Sampler sampler(&sensor, 1, nullptr, 1.0);
  const Sampler::CounterRead r = sampler.read_counter(0);
  EXPECT_EQ(r.t_before, sensor.counter_read_at);
  EXPECT_GE(r.t_before - r.t_call, 0.015);
  EXPECT_GE(r.t_after, r.t_before);
}

// A counter that changes every 20 ms behind reads that take 1 ms of power and 1 ms of counter
// (after one quick first read), and one read that stalls for 30 ms (the thread descheduled).
class VariableReadSensor final : public GpuSensor {
 public:
  explicit VariableReadSensor(int stall_at) : stall_at_(stall_at), origin_(steady_seconds()) {}
  std::string unavailable_reason() const override { return ""; }
  std::string driver_version() const override { return "variable reads"; }
  std::vector<DeviceInfo> devices() const override {
    DeviceInfo d;
    d.has_energy_counter = true;
    return {d};
  }
  Sample read(int device, std::vector<std::string>& errors) override {
    return read_counter(device, errors);
  }
  Sample read_counter(int device, std::vector<std::string>&) override {
    const int n = reads_++;
    auto ms = [](double x) { std::this_thread::sleep_for(std::chrono::duration<double>(x)); };
    if (n > 0) ms(0.001);  // the power reading
    if (n == stall_at_) ms(0.030);
    Sample s;
    s.device = device;
    s.t = steady_seconds();  // the counter read starts here
    if (n > 0) ms(0.001);
    s.energy_mj = std::floor((s.t - origin_) / 0.02);  // one update every 20 ms
    s.watts = 100;
    return s;
  }

 private:
  int reads_ = 0;
  int stall_at_;
  double origin_;
};

// Ordinary reads of a few milliseconds, slower than the first: the first change is used (the
// bound is two typical reads, not two of the quickest); a change inside a stalled read is not.
TEST(AlignedWait, AChangeIsJudgedAgainstTypicalReadsAndAStalledOneIsNotUsed) {
  VariableReadSensor ordinary(-1);
  Sampler a(&ordinary, 1, nullptr, 0);
  const double t0 = steady_seconds();
  const auto e = wait_for_counter_changes(a, {true}, 0.5);
  ASSERT_TRUE(e[0].seen);
  EXPECT_LT(e[0].half_width_s, 0.01);
  // One of the first changes, not the 0.5 s timeout that judging against the quickest read (the
  // first, instant) gives: every ordinary bracket then exceeded it.
  EXPECT_LT(steady_seconds() - t0, 0.2);

  VariableReadSensor stalled(1);  // the first poll stalls across a change
  Sampler b(&stalled, 1, nullptr, 0);
  const auto f = wait_for_counter_changes(b, {true}, 0.5);
  ASSERT_TRUE(f[0].seen);
  EXPECT_LT(f[0].half_width_s, 0.01);  // a later, sharp change (the stalled one is 16 ms)
}

// A whole sample that takes 30 ms (the sampler thread reading every field of a slow device)
// beside a counter read that takes none: an aligned wait's poll must not wait for the sample,
// or its bracket around a counter change widens by up to the sample's time.
class SlowSampleSensor final : public GpuSensor {
 public:
  std::string unavailable_reason() const override { return ""; }
  std::string driver_version() const override { return "slow sample"; }
  std::vector<DeviceInfo> devices() const override { return {DeviceInfo{}}; }
  Sample read(int device, std::vector<std::string>& errors) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ++samples;
    return read_counter(device, errors);
  }
  Sample read_counter(int device, std::vector<std::string>&) override {
    Sample s;
    s.device = device;
    s.t = steady_seconds();
    s.energy_mj = 1000;
    s.watts = 100;
    return s;
  }
  std::atomic<int> samples{0};
};

TEST(Sampler, CounterPollDoesNotWaitForTheSamplerThreadsRead) {
  SlowSampleSensor sensor;
  Sampler sampler(&sensor, 1, nullptr, 0.005);  // back to back: a read is nearly always running
  sampler.start();
  while (sensor.samples.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<double> took;
  for (int i = 0; i < 40; ++i) {
    const double called = steady_seconds();
    const Sampler::CounterRead r = sampler.read_counter(0);
    took.push_back(r.t_after - called);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const Sampler::Boundary b = sampler.sample_now();  // boundary samples still take their turn
  sampler.stop();
  std::sort(took.begin(), took.end());
  // Waiting behind the lock, most polls took up to 30 ms (median about 15 ms).
  EXPECT_LT(took[took.size() / 2], 0.005);
  ASSERT_EQ(b.samples.size(), 1u);
  const std::vector<Sample> timeline = sampler.device_samples(0, 0, 1e300);
  EXPECT_GE(timeline.size(), 3u);
  EXPECT_TRUE(std::is_sorted(timeline.begin(), timeline.end(),
                             [](const Sample& x, const Sample& y) { return x.t < y.t; }));
}

}  // namespace
}  // namespace eco::meter
