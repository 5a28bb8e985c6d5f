// `ecocompute info`: the GPUs and host sensors this machine offers, what each supports, and the
// energy counter's update period measured on the spot.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/command.h"
#include "ecocompute/meter.h"

namespace {

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

// Polls every device's counter as fast as NVML answers for `seconds` and returns, per device,
// the median time between changes of its value (NaN when it changed fewer than twice).
std::vector<double> counter_update_period(eco::meter::Meter& meter, double seconds,
                                          std::vector<int>& changes) {
  const size_t n = meter.devices().size();
  std::vector<std::vector<double>> change_times(n);
  std::vector<double> last(n, NAN);
  const double until = meter.now() + seconds;
  while (meter.now() < until) {
    for (const auto& s : meter.sample_now()) {
      const auto d = static_cast<size_t>(s.device);
      if (std::isfinite(s.energy_mj) && std::isfinite(last[d]) && s.energy_mj != last[d]) {
        change_times[d].push_back(s.t);
      }
      if (std::isfinite(s.energy_mj)) last[d] = s.energy_mj;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  std::vector<double> period(n, NAN);
  changes.assign(n, 0);
  for (size_t d = 0; d < n; ++d) {
    auto& t = change_times[d];
    changes[d] = static_cast<int>(t.size());
    if (t.size() < 3) continue;
    std::vector<double> gaps;
    for (size_t i = 1; i < t.size(); ++i) gaps.push_back(t[i] - t[i - 1]);
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<long>(gaps.size() / 2), gaps.end());
    period[d] = gaps[gaps.size() / 2];
  }
  return period;
}

void run_info(double probe_seconds) {
  eco::meter::MeterOptions mo;
  mo.start_sampling = false;
  eco::meter::Meter meter(mo);
  if (!meter.gpu_available()) {
    fmt::print("GPU energy: unavailable ({})\n", meter.gpu_unavailable_reason());
  } else {
    fmt::print("NVIDIA driver {}, {} visible GPU(s)\n", meter.driver_version(),
               meter.devices().size());
    std::vector<int> changes;
    const auto period = probe_seconds > 0 ? counter_update_period(meter, probe_seconds, changes)
                                          : std::vector<double>(meter.devices().size(), NAN);
    for (const auto& d : meter.devices()) {
      fmt::print("GPU {}: {} ({}), NVML index {}\n", d.index, d.name, d.uuid, d.nvml_index);
      if (!d.error.empty()) fmt::print("  error: {}\n", d.error);
      fmt::print("  power limit {:.0f} W, memory {:.0f} MiB used of {:.0f} MiB\n", d.power_limit_w,
                 d.memory_used_mib, d.memory_total_mib);
      fmt::print("  energy from: {}; power timeline from: {}\n", d.energy_source,
                 d.power_source.empty() ? "none" : d.power_source);
      fmt::print(
          "  supports: energy counter {}, instant power {}, 1 s average power {}, "
          "nvmlDeviceGetPowerUsage {}, temperature {}, clocks {}\n",
          yes_no(d.has_energy_counter), yes_no(d.has_power_instant), yes_no(d.has_power_average),
          yes_no(d.has_power_usage), yes_no(d.has_temperature), yes_no(d.has_clocks));
      const auto i = static_cast<size_t>(d.index);
      if (std::isfinite(period[i])) {
        fmt::print("  counter update period: {:.1f} ms (median of {} changes in {:.1f} s)\n",
                   1000 * period[i], changes[i], probe_seconds);
      } else if (d.has_energy_counter && probe_seconds > 0) {
        fmt::print("  counter update period: not measured ({} changes in {:.1f} s)\n", changes[i],
                   probe_seconds);
      }
      for (const auto& n : d.notes) fmt::print("  note: {}\n", n);
    }
  }
  if (meter.host_domains().empty()) {
    fmt::print("Host energy: unavailable ({})\n", meter.host_unavailable_reason());
  }
  for (const auto& h : meter.host_domains()) {
    if (h.available)
      fmt::print("Host {}: RAPL, {}\n", h.name, h.path);
    else
      fmt::print("Host {}: unavailable ({})\n", h.name, h.reason);
  }
}

void setup(CLI::App& sub) {
  auto probe = std::make_shared<double>(1.0);
  sub.add_option("--probe-seconds", *probe,
                 "How long to poll the energy counter to measure its update period (0: skip)")
      ->check(CLI::Range(0.0, 60.0));
  sub.callback([probe] { run_info(*probe); });
}

}  // namespace

ECO_COMMAND("info", "List GPUs, drivers and energy sensors, and what each supports", setup);
