#include "analysis/fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "analysis/stats.h"
#include "common/error.h"

namespace eco::analysis {

LineFit fit_line(std::span<const double> x, std::span<const double> y) {
  LineFit f;
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return f;
  x = x.first(n), y = y.first(n);
  const double mx = mean(x), my = mean(y);
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0) return f;
  f.ok = true;
  f.n = int(n);
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  double sse = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = y[i] - (my + f.slope * (x[i] - mx));
    sse += r * r;
  }
  f.r_squared = syy == 0 ? 1.0 : 1.0 - sse / syy;
  f.slope_se =
      n < 3 ? std::numeric_limits<double>::quiet_NaN() : std::sqrt(sse / double(n - 2) / sxx);
  return f;
}

PowerLawFit fit_power_law(std::span<const double> batch, std::span<const double> energy) {
  if (batch.size() != energy.size())
    fail("power-law fit: {} batch sizes but {} energies", batch.size(), energy.size());
  const size_t n = batch.size();
  std::vector<double> x(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    if (!(batch[i] > 0) || !(energy[i] > 0))
      fail("power-law fit: batch size and energy must be positive (point {}: B={}, E={})", i,
           batch[i], energy[i]);
    x[i] = std::log(batch[i]);
    y[i] = std::log(energy[i]);
  }
  const LineFit line = fit_line(x, y);
  if (!line.ok) fail("power-law fit: needs at least two distinct batch sizes");
  PowerLawFit f;
  f.n = line.n;
  f.b = line.slope;
  f.a = std::exp(line.intercept);
  f.r_squared = line.r_squared;
  f.b_se = line.slope_se;
  if (n < 3) {
    f.b_ci_low = f.b_ci_high = std::numeric_limits<double>::quiet_NaN();
  } else {
    const double tq = student_t_quantile(0.975, double(n - 2));
    f.b_ci_low = f.b - tq * f.b_se;
    f.b_ci_high = f.b + tq * f.b_se;
  }
  return f;
}

namespace {

double returns_batch(double b, double threshold) {
  return std::pow((1 - std::exp2(b)) / threshold, -1 / b);
}

}  // namespace

DiminishingReturns diminishing_returns(const PowerLawFit& fit, double threshold) {
  if (!(threshold > 0 && threshold < 1))
    fail("diminishing returns: threshold must be a fraction in (0, 1) (got {})", threshold);
  DiminishingReturns r;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!(fit.b < 0)) {
    r.batch = r.low = r.high = nan;
    return r;
  }
  r.saves = true;
  r.batch = returns_batch(fit.b, threshold);
  r.low = r.high = nan;
  if (std::isfinite(fit.b_ci_low) && std::isfinite(fit.b_ci_high) && fit.b_ci_high < 0) {
    // Not monotone in b over every range, so scan the interval rather than trust its ends.
    r.low = r.high = r.batch;
    constexpr int kSteps = 256;
    for (int i = 0; i <= kSteps; ++i) {
      const double b = fit.b_ci_low + (fit.b_ci_high - fit.b_ci_low) * i / kSteps;
      const double x = returns_batch(b, threshold);
      r.low = std::min(r.low, x);
      r.high = std::max(r.high, x);
    }
  }
  return r;
}

}  // namespace eco::analysis
