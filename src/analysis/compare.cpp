#include "analysis/compare.h"

#include <cmath>
#include <limits>

#include "analysis/stats.h"
#include "common/error.h"

namespace eco::analysis {

WelchResult welch_t_test(std::span<const double> a, std::span<const double> b, double confidence) {
  if (a.size() < 2 || b.size() < 2)
    fail("Welch's t-test needs at least two runs per configuration (got {} and {})", a.size(),
         b.size());
  return welch_t_test(moments(a), moments(b), confidence);
}

WelchResult welch_t_test(const Moments& a, const Moments& b, double confidence) {
  if (a.n < 2 || b.n < 2)
    fail("Welch's t-test needs at least two runs per configuration (got {} and {})", a.n, b.n);
  if (!(confidence > 0 && confidence < 1))
    fail("confidence level must be between 0 and 1 exclusive (got {})", confidence);
  if (!std::isfinite(a.mean) || !std::isfinite(b.mean) || !(a.sd >= 0) || !(b.sd >= 0))
    fail("Welch's t-test: means must be finite and sds non-negative (got {} +/- {} and {} +/- {})",
         a.mean, a.sd, b.mean, b.sd);
  WelchResult r;
  r.mean_a = a.mean;
  r.mean_b = b.mean;
  r.difference = r.mean_a - r.mean_b;
  const double qa = a.sd * a.sd / double(a.n);  // squared standard errors
  const double qb = b.sd * b.sd / double(b.n);
  const double se2 = qa + qb;
  if (se2 == 0) {
    r.df = double(a.n + b.n - 2);
    if (r.difference == 0) {
      r.t = 0;
      r.p_two_sided = 1;
    } else {
      r.t = r.difference > 0 ? std::numeric_limits<double>::infinity()
                             : -std::numeric_limits<double>::infinity();
      r.p_two_sided = 0;
    }
    r.ci_low = r.ci_high = r.difference;
  } else {
    const double se = std::sqrt(se2);
    r.t = r.difference / se;
    r.df = se2 * se2 / (qa * qa / double(a.n - 1) + qb * qb / double(b.n - 1));
    r.p_two_sided = student_t_two_sided_p(r.t, r.df);
    const double tq = student_t_quantile(0.5 + confidence / 2, r.df);
    r.ci_low = r.difference - tq * se;
    r.ci_high = r.difference + tq * se;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const bool rel = r.mean_b != 0;
  r.delta_pct = rel ? 100 * r.difference / r.mean_b : nan;
  r.delta_pct_low = rel ? 100 * (r.mean_b > 0 ? r.ci_low : r.ci_high) / r.mean_b : nan;
  r.delta_pct_high = rel ? 100 * (r.mean_b > 0 ? r.ci_high : r.ci_low) / r.mean_b : nan;
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

EnergySplit energy_split(double gross_a, double net_a, double seconds_a, double gross_b,
                         double net_b, double seconds_b) {
  EnergySplit s;
  s.gross = energy_ratio(gross_a, seconds_a, gross_b, seconds_b);
  if (std::isfinite(net_a) && std::isfinite(net_b)) {
    if (!(net_a > 0 && net_b > 0))
      fail(
          "net energy must be positive to split its ratio (got {} J vs {} J): idle power "
          "above the mean power means the idle baseline drifted; re-measure it",
          net_a, net_b);
    s.net = energy_ratio(net_a, seconds_a, net_b, seconds_b);
    s.has_net = true;
  }
  return s;
}

}  // namespace eco::analysis
