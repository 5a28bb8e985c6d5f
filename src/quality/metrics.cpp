#include "quality/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace eco::quality {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

RowStats row_stats(std::span<const float> logits) {
  if (logits.empty()) fail("row_stats: empty row of logits");
  RowStats r;
  float best = logits[0];
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > best) best = logits[i], r.top1 = int32_t(i);
  // Shifted by the maximum so that no exp overflows; the sum is at least 1.
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - double(best));
  r.log_sum_exp = double(best) + std::log(sum);
  return r;
}

double kl_divergence(std::span<const float> base, double base_lse, std::span<const float> q,
                     double q_lse) {
  if (base.size() != q.size())
    fail("kl_divergence: rows of {} and {} logits (the two formats' vocabularies differ)",
         base.size(), q.size());
  double kl = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double lp = double(base[i]) - base_lse;
    const double lq = double(q[i]) - q_lse;
    kl += std::exp(lp) * (lp - lq);
  }
  return std::max(kl, 0.0);
}

TokenComparison compare_token(std::span<const float> base, const RowStats& base_stats,
                              std::span<const float> q, int32_t token) {
  if (token < 0 || size_t(token) >= q.size())
    fail("compare_token: token id {} outside the vocabulary [0, {})", token, q.size());
  const RowStats qs = row_stats(q);
  TokenComparison t;
  t.nll = token_nll(q, qs.log_sum_exp, token);
  t.nll_base = token_nll(base, base_stats.log_sum_exp, token);
  t.kld = kl_divergence(base, base_stats.log_sum_exp, q, qs.log_sum_exp);
  t.delta_p = std::exp(-t.nll) - std::exp(-t.nll_base);
  t.same_top1 = qs.top1 == base_stats.top1;
  return t;
}

double MeanAccumulator::mean() const {
  return n_ ? sum_ / double(n_) : kNaN;
}

double MeanAccumulator::rms() const {
  return n_ ? std::sqrt(sum_sq_ / double(n_)) : kNaN;
}

Estimate MeanAccumulator::estimate() const {
  Estimate e{mean(), kNaN};
  if (n_ >= 2) {
    // Var of the mean = (E[x^2] - E[x]^2) / (n - 1), the sample variance over n.
    const double var = std::max(sum_sq_ / double(n_) - e.value * e.value, 0.0);
    e.err = std::sqrt(var / double(n_ - 1));
  }
  return e;
}

double quantile_sorted(std::span<const double> sorted, double p) {
  if (sorted.empty()) fail("quantile of an empty sample");
  const double rank = std::clamp(p, 0.0, 1.0) * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - double(lo);
  return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

Percentiles percentiles(std::vector<double>& values) {
  if (values.empty()) fail("percentiles of an empty sample: no token was scored");
  std::sort(values.begin(), values.end());
  auto q = [&](double p) { return quantile_sorted(values, p); };
  Percentiles r;
  r.max = values.back();
  r.p99_9 = q(0.999);
  r.p99 = q(0.99);
  r.p95 = q(0.95);
  r.p90 = q(0.90);
  r.median = q(0.5);
  r.p10 = q(0.10);
  r.p5 = q(0.05);
  r.p1 = q(0.01);
  r.min = values.front();
  return r;
}

Estimate perplexity(const MeanAccumulator& nll) {
  const Estimate m = nll.estimate();
  const double ppl = std::exp(m.value);
  return {ppl, ppl * m.err};
}

Estimate proportion(int64_t k, int64_t n) {
  if (n <= 0) return {kNaN, kNaN};
  const double p = double(k) / double(n);
  return {p, n >= 2 ? std::sqrt(p * (1 - p) / double(n - 1)) : kNaN};
}

}  // namespace eco::quality
