#pragma once
// The arithmetic of quality scores, as llama.cpp's `llama-perplexity` (and its --kl-divergence)
// made them standard: per-token negative log-likelihood, KL divergence of a format's next-token
// distribution from the base format's, top-1 agreement and delta-p, and their summaries with
// standard errors and percentiles. Pure functions on logit rows, so unit tests can check each
// rule on hand-computed distributions.
#include <cstdint>
#include <span>
#include <vector>

namespace eco::quality {

// One row of logits reduced to what every score needs: log-sum-exp (log of the softmax's
// normaliser) and the greedy choice (ties: lowest id, as Engine::argmax).
struct RowStats {
  double log_sum_exp = 0;
  int32_t top1 = 0;
};
RowStats row_stats(std::span<const float> logits);

// -log p(token) under the softmax of `logits` whose log-sum-exp is `lse`.
inline double token_nll(std::span<const float> logits, double lse, int32_t token) {
  return lse - double(logits[size_t(token)]);
}

// KL(P_base || P_q) = sum_i p_base(i) (log p_base(i) - log p_q(i)), in nats, accumulated in
// double. Never negative in exact arithmetic; rounding below zero is clamped to 0.
double kl_divergence(std::span<const float> base, double base_lse, std::span<const float> q,
                     double q_lse);

// One scored token of a format compared with the base format on the same context: both NLLs
// of the actual next token, KL(base || q), delta-p = p_q(token) - p_base(token) and whether the
// two greedy choices agree.
struct TokenComparison {
  double nll = 0, nll_base = 0, kld = 0, delta_p = 0;
  bool same_top1 = false;
};
TokenComparison compare_token(std::span<const float> base, const RowStats& base_stats,
                              std::span<const float> q, int32_t token);

// A mean with its standard error (sample sd / sqrt(n)); err is NaN for fewer than two values.
struct Estimate {
  double value = 0;
  double err = 0;
};

// Running sums of x and x^2 in double, for means and their standard errors.
class MeanAccumulator {
 public:
  void add(double x) {
    sum_ += x;
    sum_sq_ += x * x;
    ++n_;
  }
  void merge(const MeanAccumulator& o) { sum_ += o.sum_, sum_sq_ += o.sum_sq_, n_ += o.n_; }
  int64_t count() const { return n_; }
  double mean() const;
  double rms() const;  // sqrt(mean of x^2)
  Estimate estimate() const;

 private:
  double sum_ = 0, sum_sq_ = 0;
  int64_t n_ = 0;
};

// The percentiles reported for KL divergence and delta-p, with linear interpolation between
// the two nearest order statistics (rank p (n - 1)).
struct Percentiles {
  double max = 0, p99_9 = 0, p99 = 0, p95 = 0, p90 = 0, median = 0, p10 = 0, p5 = 0, p1 = 0,
         min = 0;
};
// `values` is sorted in place. Throws eco::Error when empty.
Percentiles percentiles(std::vector<double>& values);
// The p-quantile (0 <= p <= 1) of sorted values.
double quantile_sorted(std::span<const double> sorted, double p);

// Perplexity exp(mean NLL), with the error of the mean propagated (PPL * err(NLL)).
Estimate perplexity(const MeanAccumulator& nll);

// A proportion k / n with its binomial standard error sqrt(p (1 - p) / (n - 1)).
Estimate proportion(int64_t k, int64_t n);

}  // namespace eco::quality
