// The stopping, trend and outlier rules of a round of measured runs (bench/round.h).
#include "bench/round.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "analysis/fit.h"
#include "analysis/stats.h"
#include "bench/measure.h"

namespace eco::bench {

namespace {

double median(std::vector<double> xs) {
  const size_t n = xs.size();
  std::sort(xs.begin(), xs.end());
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

bool all_finite(const std::vector<double>& xs) {
  return std::all_of(xs.begin(), xs.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace

Trend trend_of(const std::vector<double>& xs, const std::vector<double>& ys, double target) {
  Trend tr;
  tr.n = int(ys.size());
  if (tr.n < 3 || xs.size() != ys.size() || !all_finite(ys)) return tr;
  const double my = analysis::mean(ys);
  const analysis::LineFit line = analysis::fit_line(xs, ys);
  if (!line.ok || my == 0) return tr;
  tr.slope = line.slope;
  const double se = line.slope_se;
  tr.t = se > 0
             ? tr.slope / se
             : (tr.slope == 0 ? 0.0
                              : std::copysign(std::numeric_limits<double>::infinity(), tr.slope));
  tr.t_critical = analysis::student_t_quantile(0.975, tr.n - 2.0);
  const auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
  tr.change = tr.slope * (*hi - *lo) / std::fabs(my);
  tr.significant = std::fabs(tr.t) > tr.t_critical && std::fabs(tr.change) > target;
  return tr;
}

int unsettled_leading(const std::vector<double>& ys, double slope, double target) {
  if (slope == 0 || !all_finite(ys)) return 0;
  const double side = slope > 0 ? 1.0 : -1.0;
  int d = 0;
  while (size_t(d) + 2 < ys.size()) {
    const double m = median(std::vector<double>(ys.begin() + d + 1, ys.end()));
    if (m == 0 || side * (ys[size_t(d)] - m) / std::fabs(m) >= -target) break;
    ++d;
  }
  return d;
}

std::vector<size_t> outliers_of(const std::vector<double>& ys) {
  std::vector<size_t> out;
  if (int(ys.size()) < kOutlierMinRuns || !all_finite(ys)) return out;
  const double m = median(ys);
  std::vector<double> dev;
  for (double y : ys) dev.push_back(std::fabs(y - m));
  const double robust_sd = 1.4826 * median(dev);
  for (size_t i = 0; i < ys.size(); ++i)
    if (dev[i] > kOutlierRobustSd * robust_sd && dev[i] > kOutlierMinDeviation * std::fabs(m))
      out.push_back(i);
  return out;
}

std::vector<size_t> RoundPlan::kept() const {
  std::vector<size_t> at;
  for (size_t i = 0; i < uses_.size(); ++i)
    if (uses_[i] == RunUse::Kept) at.push_back(i);
  return at;
}

std::vector<double> RoundPlan::j_of(const std::vector<size_t>& at) const {
  std::vector<double> ys;
  for (size_t i : at) ys.push_back(j_[i]);
  return ys;
}

bool RoundPlan::precise(const std::vector<size_t>& kept) const {
  std::vector<double> tput;
  for (size_t i : kept) tput.push_back(tok_s_[i]);
  return ci_within(tput, p_.ci_target) && (!energy_ || ci_within(j_of(kept), p_.ci_target));
}

Trend RoundPlan::final_trend() const {
  const auto at = kept();
  return trend_of(std::vector<double>(at.begin(), at.end()), j_of(at), p_.ci_target);
}

bool RoundPlan::set_aside_unsettled(const std::vector<size_t>& kept, bool at_cap) {
  const std::vector<double> ys = j_of(kept);
  const Trend tr = trend_of(std::vector<double>(kept.begin(), kept.end()), ys, p_.ci_target);
  if (!tr.significant) return false;
  const int d = unsettled_leading(ys, tr.slope, p_.ci_target);
  // At the cap nothing more can be measured: the rest must still hold the minimum of runs.
  if (d == 0 || (at_cap && int(kept.size()) - d < p_.runs)) return false;
  TrendDrop drop{int(uses_.size()), tr, {}};
  for (int i = 0; i < d; ++i) {
    uses_[kept[size_t(i)]] = RunUse::Unsettled;
    drop.runs.push_back(kept[size_t(i)]);
  }
  drops_.push_back(std::move(drop));
  return true;
}

bool RoundPlan::decide_outlier() {
  std::vector<size_t> settled;
  for (size_t i = 0; i < uses_.size(); ++i)
    if (uses_[i] != RunUse::Unsettled) settled.push_back(i);
  const auto found = outliers_of(j_of(settled));
  outliers_found_ = int(found.size());
  std::optional<size_t> chosen;
  if (found.size() == 1) chosen = settled[found.front()];
  if (chosen == rejected_) return false;
  if (rejected_) uses_[*rejected_] = RunUse::Kept;  // a second outlier: none is rejected
  rejected_ = chosen;
  if (!chosen) return false;
  uses_[*chosen] = RunUse::OutlierRejected;
  if (replacement_) return false;
  replacement_ = true;  // the rejected run is re-measured once: cap() grows by one
  return true;
}

bool RoundPlan::add(double decode_j_per_token, double decode_tok_s) {
  j_.push_back(decode_j_per_token);
  tok_s_.push_back(decode_tok_s);
  uses_.push_back(RunUse::Kept);
  if (int(kept().size()) < p_.runs) return int(uses_.size()) < cap();
  if (energy_) {
    const bool at_cap = int(uses_.size()) >= cap();
    if (set_aside_unsettled(kept(), at_cap) && !at_cap) return true;
    if (decide_outlier()) return true;
  }
  return int(uses_.size()) < cap() && !precise(kept());
}

}  // namespace eco::bench
