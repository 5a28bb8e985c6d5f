#pragma once
// The seam between the meter and a GPU: NVML in production, a scripted sensor in unit tests.
// A sensor probes its devices once and then answers read() from the sampler thread (or the
// thread taking a window's boundary sample, never both at once) and read_counter() from the
// thread waiting for a counter change, possibly while a read() runs.
#include <string>
#include <vector>

#include "ecocompute/meter.h"

namespace eco::meter {

class GpuSensor {
 public:
  virtual ~GpuSensor() = default;
  // Empty when the sensor works; otherwise why GPU energy is unavailable.
  virtual std::string unavailable_reason() const = 0;
  virtual std::string driver_version() const = 0;
  virtual std::vector<DeviceInfo> devices() const = 0;
  // Reads every supported value of visible device `device` now. `t` is the steady clock time of
  // the power reading. Unsupported or failed values are NaN; each failure appends one message.
  virtual Sample read(int device, std::vector<std::string>& errors) = 0;
  // Only the energy counter and the point power reading (other fields may be NaN), as cheaply as
  // the sensor can: update-aligned windows poll it about every millisecond. Sample::t is when
  // the counter read began (it is read last), so that polling can time the counter's changes.
  virtual Sample read_counter(int device, std::vector<std::string>& errors) {
    return read(device, errors);
  }
};

double steady_seconds();  // the timeline's clock (std::chrono::steady_clock), in seconds

}  // namespace eco::meter
