#pragma once
// When a round of measured runs stops, and which of its runs are set aside: the adaptive CI
// rule, the trend rule (the leading runs of a card still settling) and the outlier rule (one
// lone window far from all the others). Pure: the runs' figures go in and decisions come out,
// so each rule is tested on scripted figures. docs/METHODOLOGY.md ("Measured runs") gives the
// rules and the H200 measurements they answer.
#include <cstddef>
#include <optional>
#include <vector>

#include "bench/protocol.h"

namespace eco::bench {

// The outlier rule's bounds: a run is an outlier when its decode J/token lies more than
// kOutlierRobustSd robust standard deviations (1.4826 x the median absolute deviation) from
// the median of the round's runs and more than kOutlierMinDeviation of the median away. The
// rule looks at kOutlierMinRuns runs or more: the MAD of five runs is so unsteady that a clean
// card with 0.5 % noise had a run rejected in 3.8 % of simulated rounds (none from eight).
inline constexpr double kOutlierRobustSd = 3.5;
inline constexpr double kOutlierMinDeviation = 0.01;
inline constexpr int kOutlierMinRuns = 8;

// Least-squares trend of `ys` over the run indices `xs`.
struct Trend {
  int n = 0;
  double slope = 0;          // per run index, in the unit of ys
  double t = 0;              // slope / its standard error (infinite for an exact line)
  double t_critical = 0;     // two-sided 95 % Student t quantile, n - 2 degrees of freedom
  double change = 0;         // fitted change from the first to the last index / |mean|
  bool significant = false;  // |t| > t_critical and |change| > the target
};
// Not significant for fewer than three values or when the xs do not vary.
Trend trend_of(const std::vector<double>& xs, const std::vector<double>& ys, double target);

// How many leading values were not settled: the first value, while it lies more than `target`
// (relative) from the median of the values after it, on the side the trend comes from (below
// them for a rising trend, above for a falling one), is dropped and the next one tested. At
// least two values stay after the last one dropped.
int unsettled_leading(const std::vector<double>& ys, double slope, double target);

// Positions of the outliers of `ys` (kOutlier* above); empty for fewer than kOutlierMinRuns.
std::vector<size_t> outliers_of(const std::vector<double>& ys);

enum class RunUse { Kept, Unsettled, OutlierRejected };

// A trend found at a stopping point, and the leading kept runs it set aside.
struct TrendDrop {
  int after_runs = 0;  // runs measured in the round when it was found
  Trend trend;
  std::vector<size_t> runs;  // positions in the round set aside as not settled
};

// The decisions of one round, fed each measured run's figures in order. Once `runs` runs are
// kept, after every run:
//  1. Trend rule (with energy): a significant trend of J/token over the kept runs (trend_of,
//     target ci_target) sets the leading runs that were not settled aside (unsettled_leading)
//     and the round goes on; at `max_runs` they are set aside only when the rest still holds
//     `runs`.
//  2. Outlier rule (with energy): when exactly one of the round's settled runs (kept, or
//     rejected before) is an outlier, it is rejected, and the first rejection of the round is
//     re-measured by one extra run (beyond max_runs if need be); two or more outliers reject
//     none (a run rejected before is reinstated) and the gate decides.
//  3. The round stops when the 95 % CIs of the kept runs' decode tok/s and (with energy)
//     decode J/token are within ci_target of their means, or at max_runs measured runs.
// Both rules look before the CI: left in, unsettled runs or an outlier hold the CI open for
// runs the round does not need.
class RoundPlan {
 public:
  RoundPlan(const ProtocolOptions& p, bool energy) : p_(p), energy_(energy) {}

  // Records the next measured run; returns true when the round wants another one.
  bool add(double decode_j_per_token, double decode_tok_s);

  const std::vector<RunUse>& uses() const { return uses_; }
  std::vector<size_t> kept() const;
  const std::vector<TrendDrop>& trend_drops() const { return drops_; }
  std::optional<size_t> outlier_rejected() const { return rejected_; }
  // Outliers among the settled runs at the last decision (0 when none was made).
  int outliers_found() const { return outliers_found_; }
  // The trend of J/token over the kept runs as they are now.
  Trend final_trend() const;
  // Whether the round measured its one extra run for a rejected outlier.
  bool outlier_remeasured() const { return replacement_; }
  // Runs the round may measure: max_runs, one more once a rejected outlier was re-measured.
  int cap() const { return p_.max_runs + (replacement_ ? 1 : 0); }

 private:
  bool precise(const std::vector<size_t>& kept) const;
  bool set_aside_unsettled(const std::vector<size_t>& kept, bool at_cap);
  bool decide_outlier();
  std::vector<double> j_of(const std::vector<size_t>& at) const;

  ProtocolOptions p_;
  bool energy_;
  std::vector<double> j_, tok_s_;
  std::vector<RunUse> uses_;
  std::vector<TrendDrop> drops_;
  std::optional<size_t> rejected_;
  bool replacement_ = false;
  int outliers_found_ = 0;
};

}  // namespace eco::bench
