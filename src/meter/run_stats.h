#pragma once
// Mean, sd, CV and a Student-t 95 % confidence interval across repeated runs of `measure`.
// Deliberately minimal and private to the meter: analysis/ owns statistics for studies.
#include <span>

namespace eco::meter {

struct RunStats {
  int n = 0;
  double mean = 0;
  double sd = 0;      // sample standard deviation (n - 1); NaN for n < 2
  double cv = 0;      // sd / mean; NaN for n < 2 or mean 0
  double ci_low = 0;  // mean -/+ t(0.975, n-1) * sd / sqrt(n); NaN for n < 2
  double ci_high = 0;
};

// Non-finite values are ignored (a run without GPU energy, say).
RunStats run_stats(std::span<const double> values);

// Two-sided 95 % Student t quantile for `df` degrees of freedom (df >= 1).
double t_quantile_975(int df);

}  // namespace eco::meter
