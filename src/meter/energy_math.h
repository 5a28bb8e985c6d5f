#pragma once
// The arithmetic behind a window: trapezoid integration of power, energy-counter differences
// across resets and wrap-arounds, and the per-device summary with its flags. Pure functions, so
// unit tests can check each rule on hand-made timelines.
#include <span>
#include <vector>

#include "ecocompute/meter.h"

namespace eco::meter {

// Trapezoid rule over samples in time order; samples whose watts are NaN are skipped (the
// neighbours on both sides are joined). Returns joules; NaN when fewer than two valid samples.
double trapezoid_j(std::span<const Sample> samples);

// Increase of a counter that counts up to `range` and then starts again from 0 (RAPL's
// max_energy_range_uj). With range <= 0 the counter has no known range and a decrease is a
// reset, for which this returns NaN.
double wrapped_delta(double previous, double current, double range);

struct CounterEnergy {
  double joules = 0;   // NaN when fewer than two counter readings
  int updates = 0;     // times the value changed between consecutive readings
  bool reset = false;  // the value went down at least once
  // Smallest increase between consecutive readings (J): at least one update's energy, so an
  // upper estimate of it. NaN when the value never increased.
  double smallest_step_j = 0;
};

// Energy from the NVML counter (mJ) over samples in time order. A value going down is a reset:
// the energy before and after it is summed and the gap between the last reading before and the
// first after is bridged with the trapezoid of the power samples in that gap (0 when none).
CounterEnergy counter_energy(std::span<const Sample> samples);

struct WindowPolicy {
  double tolerance = 0.05;
  int min_counter_updates = 10;
  bool has_counter = true;  // the device supports the energy counter
};

// The counter figure of an update-aligned window, measured outside the samples (meter/aligned.h).
struct AlignedFigure {
  double joules = 0;
  double uncertainty_j = 0;
  double tail_s = 0;
  double head_s = 0;
};

// Summarises one device's samples inside a window (boundary samples included).
// idle_power_w is NaN when no baseline was measured. With `aligned`, its figure replaces the
// counter difference of the samples (which still give the update count and reset detection).
DeviceEnergy summarize_device(std::span<const Sample> samples, double duration_s,
                              double idle_power_w, const WindowPolicy& policy,
                              const AlignedFigure* aligned = nullptr);

}  // namespace eco::meter
