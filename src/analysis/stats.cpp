#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace eco::analysis {

double mean(std::span<const double> xs) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  // Two-pass with a compensated sum: the values are large (joules) and close together.
  double sum = 0, comp = 0;
  for (double x : xs) {
    const double y = x - comp;
    const double t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
  return sum / double(xs.size());
}

double sample_sd(std::span<const double> xs) {
  if (xs.size() < 2) return 0.0;
  const double m = mean(xs);
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  return std::sqrt(ss / double(xs.size() - 1));
}

double coefficient_of_variation(std::span<const double> xs) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean(xs);
  if (m == 0) return std::numeric_limits<double>::quiet_NaN();
  return sample_sd(xs) / std::fabs(m);
}

Summary summarize(std::span<const double> xs, double confidence) {
  if (xs.empty()) fail("cannot summarize an empty sample (no runs were measured)");
  if (!(confidence > 0 && confidence < 1))
    fail("confidence level must be between 0 and 1 exclusive (got {})", confidence);
  Summary s;
  s.n = xs.size();
  s.mean = mean(xs);
  s.sd = sample_sd(xs);
  s.cv = s.mean == 0 ? std::numeric_limits<double>::quiet_NaN() : s.sd / std::fabs(s.mean);
  const auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
  s.min = *lo;
  s.max = *hi;
  if (s.n < 2) {
    s.ci_low = s.ci_high = s.mean;
  } else {
    const double tq = student_t_quantile(0.5 + confidence / 2, double(s.n - 1));
    const double half = tq * s.sd / std::sqrt(double(s.n));
    s.ci_low = s.mean - half;
    s.ci_high = s.mean + half;
  }
  return s;
}

namespace {

// Continued fraction of the incomplete beta (modified Lentz), valid for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double x, double a, double b) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-15;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // Even step.
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    // Odd step.
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < eps) break;
  }
  return h;
}

}  // namespace

double incomplete_beta(double x, double a, double b) {
  if (!(a > 0 && b > 0)) fail("incomplete beta: parameters must be positive (a={}, b={})", a, b);
  if (std::isnan(x) || x < 0 || x > 1) fail("incomplete beta: x must be in [0, 1] (got {})", x);
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The continued fraction converges fast on one side of the mean; use symmetry on the other.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(x, a, b) / a;
  return 1.0 - front * beta_continued_fraction(1 - x, b, a) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (!(df > 0)) fail("Student t: degrees of freedom must be positive (got {})", df);
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0.0;
  return incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

double student_t_cdf(double t, double df) {
  const double tail = student_t_two_sided_p(t, df) / 2;
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) fail("Student t quantile: probability must be in (0, 1) (got {})", p);
  if (!(df > 0)) fail("Student t quantile: degrees of freedom must be positive (got {})", df);
  if (p == 0.5) return 0.0;
  const bool upper = p > 0.5;
  const double tail = upper ? 1 - p : p;  // one-sided tail probability wanted
  // Bracket: the tail shrinks monotonically in t; expand until it falls below the target.
  double lo = 0, hi = 1;
  while (student_t_two_sided_p(hi, df) / 2 > tail) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) break;
  }
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (student_t_two_sided_p(mid, df) / 2 > tail)
      lo = mid;
    else
      hi = mid;
    if (hi - lo <= 1e-14 * std::max(1.0, hi)) break;
  }
  const double t = 0.5 * (lo + hi);
  return upper ? t : -t;
}

}  // namespace eco::analysis
