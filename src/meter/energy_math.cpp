#include "meter/energy_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace eco::meter {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// First and last finite value of a field, for "at start" / "at end" readings.
template <typename Field>
void first_last(std::span<const Sample> samples, Field field, double& first, double& last) {
  first = last = kNaN;
  for (const Sample& s : samples) {
    if (std::isfinite(field(s))) {
      if (!std::isfinite(first)) first = field(s);
      last = field(s);
    }
  }
}

}  // namespace

double trapezoid_j(std::span<const Sample> samples) {
  double joules = 0;
  const Sample* previous = nullptr;
  int valid = 0;
  for (const Sample& s : samples) {
    if (!std::isfinite(s.watts)) continue;
    if (previous) joules += 0.5 * (previous->watts + s.watts) * (s.t - previous->t);
    previous = &s;
    ++valid;
  }
  return valid >= 2 ? joules : kNaN;
}

double wrapped_delta(double previous, double current, double range) {
  if (current >= previous) return current - previous;
  if (range > 0) return (range - previous) + current;
  return kNaN;
}

CounterEnergy counter_energy(std::span<const Sample> samples) {
  CounterEnergy out;
  double millijoules = 0;
  size_t previous = samples.size();  // index of the previous sample with a counter value
  int readings = 0;
  double smallest_mj = kNaN;
  for (size_t i = 0; i < samples.size(); ++i) {
    const double value = samples[i].energy_mj;
    if (!std::isfinite(value)) continue;
    ++readings;
    if (previous != samples.size()) {
      const double before = samples[previous].energy_mj;
      if (value != before) ++out.updates;
      if (value > before && !(value - before >= smallest_mj)) smallest_mj = value - before;
      if (value >= before) {
        millijoules += value - before;
      } else {
        // Reset (driver reload, GPU reset): what happened between the two readings is only
        // known from the power samples there.
        out.reset = true;
        const double bridge = trapezoid_j(samples.subspan(previous, i - previous + 1));
        if (std::isfinite(bridge)) millijoules += 1000.0 * bridge;
      }
    }
    previous = i;
  }
  out.joules = readings >= 2 ? millijoules / 1000.0 : kNaN;
  out.smallest_step_j = smallest_mj / 1000.0;
  return out;
}

namespace {

// Picks the reported figure: the counter when it saw the window, else the power timeline.
void choose_source(DeviceEnergy& d, const WindowPolicy& policy, double update_j,
                   const AlignedFigure* aligned) {
  // A plain window inside one counter update sees no change at all: the counter says 0 J
  // whatever ran, so the timeline is the only figure there is (flagged too_short below).
  const bool counter_silent = !aligned && std::isfinite(d.counter_j) && d.counter_updates == 0;
  if (std::isfinite(d.counter_j) && !(counter_silent && std::isfinite(d.integrated_j))) {
    d.gross_j = d.counter_j;
    d.source = "counter";
    // A plain window reads the counter at arbitrary phases of its updates: up to one update's
    // energy is missed or gained at each end.
    d.uncertainty_j = aligned ? aligned->uncertainty_j : 2 * update_j;
    if (counter_silent) {
      d.notes.push_back(
          "the energy counter did not change inside this window and no power readings exist");
    }
  } else if (std::isfinite(d.integrated_j)) {
    d.gross_j = d.integrated_j;
    d.source = "timeline";
    d.fallback_used = true;
    d.notes.push_back(counter_silent       ? "the energy counter did not change inside this window "
                                             "(shorter than one counter update); energy integrated "
                                             "from the power timeline"
                      : policy.has_counter ? "energy counter unreadable in this window; energy "
                                             "integrated from the power timeline"
                                           : "no energy counter on this device; energy "
                                             "integrated from the power timeline");
  } else {
    d.gross_j = kNaN;
    d.source = "none";
    d.notes.push_back("neither the energy counter nor power readings were available");
  }
}

}  // namespace

DeviceEnergy summarize_device(std::span<const Sample> samples, double duration_s,
                              double idle_power_w, const WindowPolicy& policy,
                              const AlignedFigure* aligned) {
  DeviceEnergy d;
  d.samples = static_cast<int>(samples.size());
  // Only point readings (Sample::watts) are integrated, never the 1 s average (avg_watts): a
  // trailing average shifts and smears the window's edges.
  d.integrated_j = trapezoid_j(samples);
  d.counter_j = kNaN;
  d.uncertainty_j = kNaN;
  double update_j = kNaN;
  if (policy.has_counter) {
    const CounterEnergy c = counter_energy(samples);
    d.counter_j = c.joules;
    d.counter_updates = c.updates;
    d.counter_reset = c.reset;
    update_j = c.smallest_step_j;
    if (c.reset) {
      d.notes.push_back(
          "energy counter went down inside the window (counter reset); energy before and after "
          "the reset summed, the gap bridged with the power timeline");
    }
  }
  if (aligned) {
    d.counter_j = aligned->joules;
    d.aligned = true;
    d.tail_s = aligned->tail_s;
    d.head_s = aligned->head_s;
  }
  choose_source(d, policy, update_j, aligned);

  d.mean_power_w = duration_s > 0 ? d.gross_j / duration_s : kNaN;
  d.peak_power_w = kNaN;
  for (const Sample& s : samples) {
    if (std::isfinite(s.watts) && !(s.watts <= d.peak_power_w)) d.peak_power_w = s.watts;
  }
  d.idle_power_w = idle_power_w;
  d.net_j = d.gross_j - idle_power_w * duration_s;  // NaN propagates from a missing baseline

  first_last(
      samples, [](const Sample& s) { return s.temperature_c; }, d.temp_start_c, d.temp_end_c);
  first_last(
      samples, [](const Sample& s) { return s.sm_clock_mhz; }, d.sm_clock_start_mhz,
      d.sm_clock_end_mhz);
  first_last(
      samples, [](const Sample& s) { return s.mem_clock_mhz; }, d.mem_clock_start_mhz,
      d.mem_clock_end_mhz);

  // A boundary without any reading (the GPU was lost, say): the figure covers part of the window.
  auto empty = [](const Sample& s) {
    return !std::isfinite(s.watts) && !std::isfinite(s.energy_mj);
  };
  if (!samples.empty() && d.source != "none" && (empty(samples.front()) || empty(samples.back()))) {
    d.incomplete = true;
    d.notes.push_back(
        "readings failed at the start or end of the window; the energy covers only part of it");
  }

  // Without a counter the resolution is that of the power samples, so they stand in for updates.
  // An aligned window has no quantization error; it is too short when its residual is larger
  // than that of a plain window of min_counter_updates updates (one update at each end).
  const int resolution = d.source == "counter" ? d.counter_updates : d.samples;
  d.too_short = resolution < policy.min_counter_updates;
  if (d.aligned && policy.min_counter_updates > 0) {
    d.too_short = !(d.uncertainty_j <= 2.0 / policy.min_counter_updates * std::fabs(d.gross_j));
  }
  if (d.fallback_used && std::isfinite(d.counter_j) && d.counter_updates == 0 && !d.aligned) {
    d.too_short = true;  // shorter than one counter update, however many power samples
  }
  if (std::isfinite(d.counter_j) && std::isfinite(d.integrated_j) && d.counter_j > 0) {
    d.disagreement = std::fabs(d.counter_j - d.integrated_j) / d.counter_j > policy.tolerance;
  }
  return d;
}

}  // namespace eco::meter
