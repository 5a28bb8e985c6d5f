#pragma once
// A GPU sensor for in-process protocol tests: power is whatever the test last set, and the
// energy counter integrates it from read to read and changes on every read (every sample is a
// counter update); a test may also charge energy to the counter directly. Steering sets the
// power per run from a script.
#include <atomic>
#include <cmath>
#include <functional>
#include <mutex>

#include "bench/progress.h"
#include "ecocompute/meter.h"
#include "meter/sensor.h"

namespace eco::bench {

// Power is whatever the test last set; the energy counter integrates it exactly and changes
// on every read, so every sample is a counter update. set_watts changes the power from that
// moment: the energy up to it is charged at the old power.
class SteeredSensor final : public meter::GpuSensor {
 public:
  std::atomic<double> watts{100.0};
  void set_watts(double w) {
    std::lock_guard lock(mu_);
    const double t = meter::steady_seconds();
    if (last_t_ > 0) energy_mj_ += 1000.0 * last_w_ * (t - last_t_);
    last_t_ = t;
    last_w_ = w;
    watts = w;
  }
  std::string unavailable_reason() const override { return ""; }
  std::string driver_version() const override { return "steered"; }
  std::vector<meter::DeviceInfo> devices() const override {
    meter::DeviceInfo d;
    d.name = "Steered GPU";
    d.uuid = "GPU-steered";
    d.power_limit_w = 700;
    d.memory_used_mib = 0;
    d.has_energy_counter = d.has_power_usage = d.has_temperature = d.has_clocks = true;
    d.power_source = "usage";
    d.energy_source = "counter";
    return {d};
  }
  // Adds `joules` to the counter at once: energy steered by the work done instead of the clock
  // (with watts at 0, timing noise on a loaded host cannot enter a window's figure).
  void charge(double joules) {
    std::lock_guard lock(mu_);
    energy_mj_ += 1000.0 * joules;
  }
  meter::Sample read(int device, std::vector<std::string>&) override {
    std::lock_guard lock(mu_);
    const double t = meter::steady_seconds();
    if (last_t_ > 0) energy_mj_ += 1000.0 * last_w_ * (t - last_t_);
    last_t_ = t;
    last_w_ = watts.load();
    meter::Sample s;
    s.t = t;
    s.device = device;
    s.watts = last_w_;
    s.avg_watts = std::nan("");
    s.temperature_c = 50;
    s.sm_clock_mhz = 1980;
    s.mem_clock_mhz = 2619;
    s.energy_mj = energy_mj_;
    return s;
  }

 private:
  std::mutex mu_;
  double last_t_ = 0, last_w_ = 0, energy_mj_ = 1e6;
};

// Sets the sensor's power for each measured run from a per-round script.
class Steering final : public ProgressSink {
 public:
  explicit Steering(SteeredSensor& s) : sensor_(s) {}
  std::function<double(const RunLabel&)> power = [](const RunLabel&) { return 100.0; };
  void run_started(const RunLabel& label, int) override { sensor_.set_watts(power(label)); }
  void step(const std::string& name, const std::string&) override {
    if (name == "idle baseline") sensor_.set_watts(100.0);
  }

 private:
  SteeredSensor& sensor_;
};

}  // namespace eco::bench
