#pragma once
// Power-law fit E = a * B^b of energy per request against batch size, by ordinary least squares
// of ln E on ln B. The exponent b says how energy per request scales: b = -1 would mean the
// whole batch costs what one request costs; b = 0 that batching saves nothing.
#include <span>

namespace eco::analysis {

// Ordinary least squares y = intercept + slope x.
struct LineFit {
  double slope = 0, intercept = 0;
  double slope_se = 0;   // standard error of the slope (NaN with fewer than three points)
  double r_squared = 0;  // 1 when y does not vary
  int n = 0;
  bool ok =
      false;  // false with fewer than two points or when x does not vary (then nothing else is set)
};
LineFit fit_line(std::span<const double> x, std::span<const double> y);

struct PowerLawFit {
  double a = 0;         // prefactor (energy per request at B = 1, in the unit of E)
  double b = 0;         // exponent
  double b_se = 0;      // standard error of b (NaN with fewer than three points)
  double b_ci_low = 0;  // 95 % CI of b, Student t with n - 2 df (NaN with < 3 points)
  double b_ci_high = 0;
  double r_squared = 0;  // of the log-log regression
  int n = 0;             // points used
};

// `batch` and `energy` are paired observations (repeats of a batch size allowed). Needs at
// least two distinct batch sizes; every value must be positive.
PowerLawFit fit_power_law(std::span<const double> batch, std::span<const double> energy);

// Where batching stops paying. Under E = a B^b, doubling the batch from B saves
// a B^b (1 - 2^b) per request; that falls below `threshold` x E(1) = threshold x a once
//   B > ((1 - 2^b) / threshold)^(-1 / b).
// `batch` is that size for the fitted b; `low`/`high` span it over b's 95 % CI (NaN when the CI
// is). When b >= 0 batching saves nothing and `saves` is false.
struct DiminishingReturns {
  bool saves = false;
  double batch = 0, low = 0, high = 0;
};
DiminishingReturns diminishing_returns(const PowerLawFit& fit, double threshold);

}  // namespace eco::analysis
