#include "analysis/compare.h"

#include <cmath>
#include <limits>

#include "analysis/stats.h"
#include "common/error.h"

namespace eco::analysis {

WelchResult welch_t_test(std::span<const double> a, std::span<const double> b) {
  if (a.size() < 2 || b.size() < 2)
    fail("Welch's t-test needs at least two runs per configuration (got {} and {})", a.size(),
         b.size());
  WelchResult r;
  r.mean_a = mean(a);
  r.mean_b = mean(b);
  r.difference = r.mean_a - r.mean_b;
  const double va = sample_sd(a), vb = sample_sd(b);
  const double qa = va * va / double(a.size());  // squared standard errors
  const double qb = vb * vb / double(b.size());
  const double se2 = qa + qb;
  if (se2 == 0) {
    r.df = double(a.size() + b.size() - 2);
    if (r.difference == 0) {
      r.t = 0;
      r.p_two_sided = 1;
    } else {
      r.t = r.difference > 0 ? std::numeric_limits<double>::infinity()
                             : -std::numeric_limits<double>::infinity();
      r.p_two_sided = 0;
    }
    r.ci_low = r.ci_high = r.difference;
    return r;
  }
  const double se = std::sqrt(se2);
  r.t = r.difference / se;
  r.df = se2 * se2 / (qa * qa / double(a.size() - 1) + qb * qb / double(b.size() - 1));
  r.p_two_sided = student_t_two_sided_p(r.t, r.df);
  const double tq = student_t_quantile(0.975, r.df);
  r.ci_low = r.difference - tq * se;
  r.ci_high = r.difference + tq * se;
  return r;
}

EnergyRatio energy_ratio(double energy_a, double seconds_a, double energy_b, double seconds_b) {
  if (!(energy_a > 0 && energy_b > 0 && seconds_a > 0 && seconds_b > 0))
    fail("energy ratio needs positive energies and durations (got {} J / {} s vs {} J / {} s)",
         energy_a, seconds_a, energy_b, seconds_b);
  EnergyRatio r;
  r.energy_ratio = energy_a / energy_b;
  r.time_ratio = seconds_a / seconds_b;
  r.power_ratio = (energy_a / seconds_a) / (energy_b / seconds_b);
  const double le = std::log(r.energy_ratio);
  r.time_share = le == 0 ? std::numeric_limits<double>::quiet_NaN() : std::log(r.time_ratio) / le;
  return r;
}

}  // namespace eco::analysis
