#pragma once
// How a device's energy counter really updates: every change seen while polling it, and the
// period, phase jitter and increments that update-aligned windows rely on (measured, never
// assumed: `ecocompute monitor --counter-updates`).
#include <vector>

#include "meter/sampler.h"

namespace eco::meter {

// Polls every device's counter about every poll_s (0: back to back) for `seconds`.
std::vector<CounterWatch> watch_counters(Sampler& sampler, int devices, double seconds,
                                         double poll_s);

struct CounterStats {
  int changes = 0;
  double period_s = 0;  // least-squares slope of change time against update index
  double gap_mean_s = 0, gap_sd_s = 0, gap_min_s = 0, gap_max_s = 0;  // between changes
  double jitter_sd_s = 0;     // sd of change times around the fitted period and phase
  double jitter_max_s = 0;    // largest |residual|
  double phase_s = 0;         // fitted phase: change times are phase_s + k * period_s (mod)
  double bracket_mean_s = 0;  // mean half-width: how precisely changes were timed
  double power_mean_w = 0;    // mean of increment / gap
  int skipped = 0;            // gaps longer than 1.5 periods (updates missed or late)
};

// NaN-filled (changes < 3) when there is too little to fit.
CounterStats counter_stats(const std::vector<CounterChange>& changes);

}  // namespace eco::meter
