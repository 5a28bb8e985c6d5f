#pragma once
// Comparing two configurations: Welch's t-test and the split of an energy ratio into the part
// due to time and the part due to power (E = P x t, so E_a / E_b = (t_a / t_b) x (P_a / P_b)).
#include <span>

#include "analysis/stats.h"

namespace eco::analysis {

struct WelchResult {
  double mean_a = 0, mean_b = 0;
  double difference = 0;   // mean_a - mean_b
  double t = 0;            // Welch's t statistic
  double df = 0;           // Welch-Satterthwaite degrees of freedom
  double p_two_sided = 1;  // P(|T| >= |t|) under equal means
  // Confidence interval of mean_a - mean_b (t quantile at df; 95 % unless asked otherwise).
  double ci_low = 0, ci_high = 0;
  // The same change relative to b, in percent: 100 (mean_a / mean_b - 1), and the CI of the
  // difference divided by mean_b (b's mean taken as known; NaN when mean_b is 0).
  double delta_pct = 0, delta_pct_low = 0, delta_pct_high = 0;
};

// Welch's unequal-variance t-test of mean(a) == mean(b). Needs at least two values per sample.
// When both samples have zero variance the test is degenerate: t is +/-inf with p = 0 when the
// means differ, and t = 0, p = 1 when they are equal.
WelchResult welch_t_test(std::span<const double> a, std::span<const double> b,
                         double confidence = 0.95);
// The same from each sample's n, mean and sd (a published table, a stored summary).
WelchResult welch_t_test(const Moments& a, const Moments& b, double confidence = 0.95);

struct EnergyRatio {
  double energy_ratio = 0;  // E_a / E_b
  double time_ratio = 0;    // t_a / t_b
  double power_ratio = 0;   // P_a / P_b, with P = E / t (mean power over the window)
  // Share of the log energy ratio explained by time: ln(time_ratio) / ln(energy_ratio)
  // (power explains the rest). NaN when the energies are equal.
  double time_share = 0;
};

// `energy_*` in joules and `seconds_*` in seconds, over the same unit of work (e.g. per
// request). Throws eco::Error for non-positive inputs.
EnergyRatio energy_ratio(double energy_a, double seconds_a, double energy_b, double seconds_b);

// The split for gross energy and for net energy (gross minus idle power x duration) of the same
// two configurations: net removes what the GPU draws doing nothing, so a format that is slow
// at low power looks better gross than net. `net_*` NaN (idle not measured) leaves `net`
// unset (has_net false).
struct EnergySplit {
  EnergyRatio gross;
  EnergyRatio net;
  bool has_net = false;
};
EnergySplit energy_split(double gross_a, double net_a, double seconds_a, double gross_b,
                         double net_b, double seconds_b);

}  // namespace eco::analysis
