// The sampler's timed counter read, against a sensor whose power reading takes a while before
// the counter is read (as NVML's field read does on a real board).
#include "meter/sampler.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace eco::meter
