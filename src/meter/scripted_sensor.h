#pragma once
// A GPU sensor that answers from a script instead of hardware: piecewise-linear power in time,
// an energy counter that is its exact integral (refreshed every `counter_period_s`, as NVML's
// is), optional counter reset. Unit tests and embedders' own tests use it to drive Meter.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "meter/sensor.h"

namespace eco::meter {

struct ScriptedDevice {
  std::string name = "Scripted GPU";
  // (seconds after the sensor's origin, watts); linear in between, constant beyond the ends.
  std::vector<std::pair<double, double>> power = {{0.0, 100.0}};
  bool has_counter = true;
  double counter_period_s = 0.001;
  // The counter changes at phase + k * period + jitter_k, jitter_k in [0, jitter) drawn per k
  // from a fixed sequence (so a run is reproducible); jitter < period keeps the order.
  double counter_phase_s = 0;
  double counter_jitter_s = 0;
  // > 0: the point power reading holds the power at its last refresh, at counter_phase_s +
  // k x power_refresh_s, as an H200's does for about 100 ms (so right after work ends it still
  // shows the work's power); 0: the reading is the power at that instant.
  double power_refresh_s = 0;
  double reset_at_s = -1;  // >= 0: the counter restarts from 0 at this time
  double temperature_c = 40;
};

class ScriptedSensor final : public GpuSensor {
 public:
  // origin_s: steady clock time of script time 0 (steady_seconds() when negative).
  explicit ScriptedSensor(std::vector<ScriptedDevice> devices, double origin_s = -1);

  std::string unavailable_reason() const override { return ""; }
  std::string driver_version() const override { return "scripted"; }
  std::vector<DeviceInfo> devices() const override;
  Sample read(int device, std::vector<std::string>& errors) override;
  Sample read_counter(int device, std::vector<std::string>& errors) override;
  // Script time of the last counter change at or before script time t.
  static double last_change(const ScriptedDevice& d, double script_t);

  double origin() const { return origin_; }
  // Exact energy of a device between two steady clock times (for expected values in tests).
  double energy_j(int device, double from_s, double to_s) const;
  double power_w(int device, double t_s) const;

 private:
  double cumulative_j(const ScriptedDevice& d, double script_t) const;
  std::vector<ScriptedDevice> devices_;
  double origin_;
};

}  // namespace eco::meter
