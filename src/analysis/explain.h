#pragma once
// Explanations of a set of configurations: where along a model-size series a format turns from
// costing energy to saving it (with a CI), which configurations are on the Pareto front of
// energy against quality loss, and how a run's energy divides between prefill and decode.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analysis/stats.h"

namespace eco::analysis {

// One model size: a format's energy per token and the baseline's (fp16), each as moments over
// runs (a published row gives n, mean, sd; sd NaN or n < 2 means "spread unknown").
struct SizePoint {
  double params_b = 0;  // model size, billions of parameters
  Moments format;
  Moments baseline;
};

struct Crossover {
  // `found`: the ratio format / baseline changes side of 1 between two adjacent sizes; the
  // crossover is interpolated linearly in (ln size, ln ratio) between them.
  bool found = false;
  double params_b = 0;         // where the ratio reaches 1
  double low = 0, high = 0;    // 95 % interval over resampled means (NaN when unknown)
  double replicate_share = 0;  // share of resamples that have a crossover at all
  int direction = 0;           // +1: costs below, saves above; -1: the reverse
  std::vector<double> ratios;  // format / baseline per size, in size order
  std::vector<double> sizes;   // sorted sizes
};

// Needs at least two distinct sizes with positive means. The interval comes from
// `resamples` parametric resamples of every mean (normal, sd / sqrt(n)); points without a
// known spread are held fixed, which narrows the interval, and `low`/`high` are NaN when no
// point has a spread.
Crossover find_crossover(std::span<const SizePoint> points, int resamples = 4000,
                         uint64_t seed = 1);

// Configurations on the Pareto front of (energy, quality loss), both lower-is-better: a point
// is on the front when no other point is at least as good in both and better in one. Points
// with a NaN coordinate are never on the front. Returns indices into `energy`, in input order.
std::vector<size_t> pareto_front(std::span<const double> energy, std::span<const double> loss);

// Prefill's share of the energy of prefill plus decode, from paired per-run energies (joules).
// NaN entries are skipped; NaN when nothing is left.
double prefill_share(std::span<const double> prefill_j, std::span<const double> decode_j);

}  // namespace eco::analysis
