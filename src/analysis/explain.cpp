#include "analysis/explain.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>

#include "common/error.h"

namespace eco::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// First sign change of ln(ratio) between adjacent sizes; NaN when none. `direction` gets +1
// when the format costs energy below the crossover and saves above it.
double first_crossing(std::span<const double> log_size, std::span<const double> log_ratio,
                      int* direction) {
  for (size_t i = 0; i + 1 < log_ratio.size(); ++i) {
    const double a = log_ratio[i], b = log_ratio[i + 1];
    if (a == 0) {
      *direction = b < 0 ? 1 : -1;
      return std::exp(log_size[i]);
    }
    if ((a > 0) != (b > 0) && b != 0) {
      *direction = a > 0 ? 1 : -1;
      const double f = a / (a - b);
      return std::exp(log_size[i] + f * (log_size[i + 1] - log_size[i]));
    }
  }
  return kNaN;
}

// Box-Muller from a standard-specified generator, so a resample is the same on every platform.
double normal(std::mt19937_64& rng) {
  const double u1 = (double(rng() >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = double(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

double standard_error(const Moments& m) {
  return m.n >= 2 && std::isfinite(m.sd) ? m.sd / std::sqrt(double(m.n)) : 0.0;
}

}  // namespace

Crossover find_crossover(std::span<const SizePoint> points, int resamples, uint64_t seed) {
  std::vector<SizePoint> pts(points.begin(), points.end());
  std::sort(pts.begin(), pts.end(),
            [](const SizePoint& a, const SizePoint& b) { return a.params_b < b.params_b; });
  for (size_t i = 0; i < pts.size(); ++i) {
    if (!(pts[i].params_b > 0 && pts[i].format.mean > 0 && pts[i].baseline.mean > 0))
      fail("crossover: sizes and energies must be positive (point {}: {} B, {} vs {})", i,
           pts[i].params_b, pts[i].format.mean, pts[i].baseline.mean);
    if (i > 0 && pts[i].params_b == pts[i - 1].params_b)
      fail("crossover: two points at the same model size ({} B); give one per size",
           pts[i].params_b);
  }
  if (pts.size() < 2) fail("crossover: needs at least two model sizes (got {})", pts.size());
  Crossover c;
  std::vector<double> ls, lr;
  for (const auto& p : pts) {
    c.sizes.push_back(p.params_b);
    c.ratios.push_back(p.format.mean / p.baseline.mean);
    ls.push_back(std::log(p.params_b));
    lr.push_back(std::log(c.ratios.back()));
  }
  c.params_b = first_crossing(ls, lr, &c.direction);
  c.found = std::isfinite(c.params_b);
  c.low = c.high = kNaN;
  const bool any_spread = std::any_of(pts.begin(), pts.end(), [](const SizePoint& p) {
    return standard_error(p.format) > 0 || standard_error(p.baseline) > 0;
  });
  if (!any_spread || resamples < 100) return c;
  std::mt19937_64 rng(seed);
  std::vector<double> found;
  std::vector<double> rep(pts.size());
  for (int r = 0; r < resamples; ++r) {
    for (size_t i = 0; i < pts.size(); ++i) {
      const double f = pts[i].format.mean + standard_error(pts[i].format) * normal(rng);
      const double b = pts[i].baseline.mean + standard_error(pts[i].baseline) * normal(rng);
      rep[i] = f > 0 && b > 0 ? std::log(f / b) : kNaN;
    }
    int dir = 0;
    const double x = first_crossing(ls, rep, &dir);
    if (std::isfinite(x) && (!c.found || dir == c.direction)) found.push_back(x);
  }
  c.replicate_share = double(found.size()) / resamples;
  if (found.size() >= 20) {
    std::sort(found.begin(), found.end());
    c.low = found[size_t(0.025 * double(found.size() - 1))];
    c.high = found[size_t(std::ceil(0.975 * double(found.size() - 1)))];
  }
  return c;
}

std::vector<size_t> pareto_front(std::span<const double> energy, std::span<const double> loss) {
  if (energy.size() != loss.size())
    fail("Pareto front: {} energies but {} quality values", energy.size(), loss.size());
  std::vector<size_t> front;
  for (size_t i = 0; i < energy.size(); ++i) {
    if (std::isnan(energy[i]) || std::isnan(loss[i])) continue;
    bool dominated = false;
    for (size_t j = 0; j < energy.size() && !dominated; ++j) {
      if (j == i || std::isnan(energy[j]) || std::isnan(loss[j])) continue;
      dominated = energy[j] <= energy[i] && loss[j] <= loss[i] &&
                  (energy[j] < energy[i] || loss[j] < loss[i]);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

double prefill_share(std::span<const double> prefill_j, std::span<const double> decode_j) {
  if (prefill_j.size() != decode_j.size())
    fail("prefill share: {} prefill energies but {} decode energies", prefill_j.size(),
         decode_j.size());
  double p = 0, d = 0;
  size_t n = 0;
  for (size_t i = 0; i < prefill_j.size(); ++i) {
    if (!std::isfinite(prefill_j[i]) || !std::isfinite(decode_j[i])) continue;
    p += prefill_j[i];
    d += decode_j[i];
    ++n;
  }
  return n == 0 || p + d <= 0 ? kNaN : p / (p + d);
}

}  // namespace eco::analysis
