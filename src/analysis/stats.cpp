#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

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

Moments moments(std::span<const double> xs) {
  return {xs.size(), mean(xs), sample_sd(xs)};
}

double coefficient_of_variation(std::span<const double> xs) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean(xs);
  if (m == 0) return std::numeric_limits<double>::quiet_NaN();
  return sample_sd(xs) / std::fabs(m);
}

Summary summarize(std::span<const double> xs, double confidence) {
  if (xs.empty()) fail("cannot summarize an empty sample (no runs were measured)");
  Summary s = summarize(moments(xs), confidence);
  const auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
  s.min = *lo;
  s.max = *hi;
  return s;
}

Summary summarize(const Moments& m, double confidence) {
  if (m.n == 0) fail("cannot summarize an empty sample (no runs were measured)");
  if (!(confidence > 0 && confidence < 1))
    fail("confidence level must be between 0 and 1 exclusive (got {})", confidence);
  Summary s;
  s.n = m.n;
  s.mean = m.mean;
  s.sd = m.n < 2 ? 0.0 : m.sd;
  s.cv = s.mean == 0 ? std::numeric_limits<double>::quiet_NaN() : s.sd / std::fabs(s.mean);
  s.min = s.max = std::numeric_limits<double>::quiet_NaN();
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

Interval bootstrap_mean_ci(std::span<const double> xs, double confidence, int resamples,
                           uint64_t seed) {
  if (xs.empty()) fail("bootstrap: the sample is empty (no runs were measured)");
  if (!(confidence > 0 && confidence < 1))
    fail("bootstrap: confidence level must be between 0 and 1 exclusive (got {})", confidence);
  if (resamples < 100) fail("bootstrap: use at least 100 resamples (got {})", resamples);
  // mt19937_64 is specified bit for bit by the standard and the index map is plain modulo (its
  // bias, n / 2^64, is far below anything a percentile can show), so an interval is the same on
  // every platform; std::uniform_int_distribution is not.
  std::mt19937_64 rng(seed);
  const auto n = uint64_t(xs.size());
  std::vector<double> means(static_cast<size_t>(resamples));
  std::vector<double> draw(xs.size());
  for (auto& m : means) {
    for (auto& d : draw) d = xs[size_t(rng() % n)];
    m = mean(draw);
  }
  std::sort(means.begin(), means.end());
  const auto at = [&](double q) {  // linear interpolation between order statistics
    const double pos = q * double(means.size() - 1);
    const auto i = size_t(pos);
    const double f = pos - double(i);
    return i + 1 < means.size() ? means[i] * (1 - f) + means[i + 1] * f : means[i];
  };
  const double tail = (1 - confidence) / 2;
  return {at(tail), at(1 - tail)};
}

EffectSize effect_size(const Moments& a, const Moments& b) {
  if (a.n < 2 || b.n < 2)
    fail("effect size needs at least two runs per configuration (got {} and {})", a.n, b.n);
  const double na = double(a.n), nb = double(b.n);
  const double pooled =
      std::sqrt(((na - 1) * a.sd * a.sd + (nb - 1) * b.sd * b.sd) / (na + nb - 2));
  EffectSize e;
  if (pooled == 0) {
    e.cohens_d = e.hedges_g = std::numeric_limits<double>::quiet_NaN();
    return e;
  }
  e.cohens_d = (a.mean - b.mean) / pooled;
  e.hedges_g = e.cohens_d * (1 - 3 / (4 * (na + nb) - 9));
  return e;
}

std::vector<double> holm_adjust(std::span<const double> p_values) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p_values.size(); ++i) {
    const double p = p_values[i];
    if (std::isnan(p)) continue;
    if (p < 0 || p > 1) fail("Holm adjustment: p-value {} is outside [0, 1]", p);
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> out(p_values.begin(), p_values.end());
  const size_t m = order.size();
  double running = 0;  // adjusted p-values never decrease along the sorted order
  for (size_t k = 0; k < m; ++k) {
    running = std::max(running, std::min(1.0, double(m - k) * p_values[order[k]]));
    out[order[k]] = running;
  }
  return out;
}

namespace {

using boost::math::students_t_distribution;

void check_df(double df, const char* what) {
  if (!(df > 0) || std::isinf(df))
    fail("{}: degrees of freedom must be positive and finite (got {})", what, df);
}

}  // namespace

double incomplete_beta(double x, double a, double b) {
  if (!(a > 0 && b > 0)) fail("incomplete beta: parameters must be positive (a={}, b={})", a, b);
  if (std::isnan(x) || x < 0 || x > 1) fail("incomplete beta: x must be in [0, 1] (got {})", x);
  return boost::math::ibeta(a, b, x);
}

double student_t_two_sided_p(double t, double df) {
  check_df(df, "Student t");
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0.0;
  // 2 x the upper tail of |t|, from the complement so that small p-values keep their digits.
  return 2 * boost::math::cdf(
                 boost::math::complement(students_t_distribution<double>(df), std::fabs(t)));
}

double student_t_cdf(double t, double df) {
  check_df(df, "Student t");
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  return boost::math::cdf(students_t_distribution<double>(df), t);
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) fail("Student t quantile: probability must be in (0, 1) (got {})", p);
  check_df(df, "Student t quantile");
  return boost::math::quantile(students_t_distribution<double>(df), p);
}

}  // namespace eco::analysis
