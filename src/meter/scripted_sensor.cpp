#include "meter/scripted_sensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace eco::meter {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double power_at(const std::vector<std::pair<double, double>>& p, double t) {
  if (p.empty()) return 0;
  if (t <= p.front().first) return p.front().second;
  for (size_t i = 1; i < p.size(); ++i) {
    if (t <= p[i].first) {
      const auto [t0, w0] = p[i - 1];
      const auto [t1, w1] = p[i];
      return t1 > t0 ? w0 + (w1 - w0) * (t - t0) / (t1 - t0) : w1;
    }
  }
  return p.back().second;
}

// Exact integral of the piecewise-linear power from script time 0 (or earlier) to t.
double integral_to(const std::vector<std::pair<double, double>>& p, double t) {
  if (p.empty()) return 0;
  double joules = 0;
  double a = std::min(0.0, p.front().first);
  std::vector<double> knots;
  for (const auto& [tk, w] : p) {
    if (tk > a && tk < t) knots.push_back(tk);
  }
  knots.push_back(t);
  for (double b : knots) {
    if (b <= a) continue;
    joules += 0.5 * (power_at(p, a) + power_at(p, b)) * (b - a);
    a = b;
  }
  return joules;
}

// A fixed pseudo-random fraction in [0, 1) for update k (splitmix64 of k).
double unit_fraction(int64_t k) {
  uint64_t z = static_cast<uint64_t>(k) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / 9007199254740992.0;  // 2^53
}

}  // namespace

double ScriptedSensor::last_change(const ScriptedDevice& d, double script_t) {
  if (d.counter_period_s <= 0) return script_t;
  const double period = d.counter_period_s;
  auto change = [&](int64_t k) {
    return d.counter_phase_s + static_cast<double>(k) * period +
           d.counter_jitter_s * unit_fraction(k);
  };
  auto k = static_cast<int64_t>(std::floor((script_t - d.counter_phase_s) / period));
  while (change(k) > script_t) --k;  // at most once while jitter < period
  return change(k);
}

ScriptedSensor::ScriptedSensor(std::vector<ScriptedDevice> devices, double origin_s)
    : devices_(std::move(devices)), origin_(origin_s >= 0 ? origin_s : steady_seconds()) {}

std::vector<DeviceInfo> ScriptedSensor::devices() const {
  std::vector<DeviceInfo> out;
  for (size_t i = 0; i < devices_.size(); ++i) {
    DeviceInfo d;
    d.index = d.nvml_index = static_cast<int>(i);
    d.name = devices_[i].name;
    d.uuid = "SCRIPTED-" + std::to_string(i);
    d.power_limit_w = 700;
    d.memory_total_mib = d.memory_used_mib = kNaN;
    d.has_energy_counter = devices_[i].has_counter;
    d.has_power_instant = d.has_temperature = d.has_clocks = true;
    d.power_source = "scripted";
    d.energy_source = d.has_energy_counter ? "counter" : "timeline";
    out.push_back(d);
  }
  return out;
}

double ScriptedSensor::cumulative_j(const ScriptedDevice& d, double script_t) const {
  double j = integral_to(d.power, script_t);
  if (d.reset_at_s >= 0 && script_t >= d.reset_at_s) j -= integral_to(d.power, d.reset_at_s);
  return j;
}

double ScriptedSensor::power_w(int device, double t_s) const {
  return power_at(devices_.at(static_cast<size_t>(device)).power, t_s - origin_);
}

double ScriptedSensor::energy_j(int device, double from_s, double to_s) const {
  const auto& p = devices_.at(static_cast<size_t>(device)).power;
  return integral_to(p, to_s - origin_) - integral_to(p, from_s - origin_);
}

Sample ScriptedSensor::read(int device, std::vector<std::string>& /*errors*/) {
  const ScriptedDevice& d = devices_.at(static_cast<size_t>(device));
  Sample s;
  s.device = device;
  s.t = steady_seconds();
  const double script_t = s.t - origin_;
  double shown_t = script_t;
  if (d.power_refresh_s > 0) {
    shown_t = d.counter_phase_s +
              std::floor((script_t - d.counter_phase_s) / d.power_refresh_s) * d.power_refresh_s;
  }
  s.watts = power_at(d.power, shown_t);
  s.avg_watts = kNaN;
  s.temperature_c = d.temperature_c;
  s.sm_clock_mhz = 1980;
  s.mem_clock_mhz = 2619;
  if (d.has_counter) {
    // The counter shows the energy at its last refresh, like NVML's.
    s.energy_mj = std::floor(1000.0 * cumulative_j(d, last_change(d, script_t)));
  } else {
    s.energy_mj = kNaN;
  }
  return s;
}

Sample ScriptedSensor::read_counter(int device, std::vector<std::string>& errors) {
  Sample s = read(device, errors);
  s.temperature_c = s.sm_clock_mhz = s.mem_clock_mhz = kNaN;  // as a quick NVML read leaves them
  return s;
}

}  // namespace eco::meter
