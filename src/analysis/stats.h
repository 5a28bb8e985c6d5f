#pragma once
// Descriptive statistics and Student-t inference for small samples of measured runs (n ~ 10).
// Distributions come from Boost.Math; everything else is plain arithmetic on doubles. Inputs
// are not modified.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace eco::analysis {

struct Summary {
  size_t n = 0;
  double mean = 0;
  double sd = 0;       // sample standard deviation (n - 1 in the denominator); 0 when n < 2
  double cv = 0;       // sd / |mean|; NaN when the mean is 0
  double ci_low = 0;   // confidence interval of the mean (Student t, n - 1 df);
  double ci_high = 0;  // equal to the mean when n < 2 (no spread to estimate)
  double min = 0;
  double max = 0;
};

// The three numbers a published table gives for a configuration (mean, sd, n), and all that
// Student-t inference needs.
struct Moments {
  size_t n = 0;
  double mean = 0;
  double sd = 0;
};

double mean(std::span<const double> xs);
// Sample standard deviation; 0 for fewer than two values.
double sample_sd(std::span<const double> xs);
// Coefficient of variation sd / |mean|; NaN when the mean is 0 or the sample is empty.
double coefficient_of_variation(std::span<const double> xs);
Moments moments(std::span<const double> xs);
// Mean, sd, CV and the two-sided `confidence` interval of the mean. Throws eco::Error for an
// empty sample or a confidence outside (0, 1).
Summary summarize(std::span<const double> xs, double confidence = 0.95);
// The same from moments alone (min and max are NaN: a published mean has none).
Summary summarize(const Moments& m, double confidence = 0.95);

// Percentile bootstrap interval of the mean: `resamples` resamples with replacement drawn
// from a generator seeded with `seed` (the same seed gives the same interval). Assumes nothing
// about the shape of the distribution, but with n ~ 10 it is narrower than the t interval
// (it cannot see spread the sample did not show); reported beside it, never instead of it.
struct Interval {
  double low = 0, high = 0;
};
Interval bootstrap_mean_ci(std::span<const double> xs, double confidence = 0.95,
                           int resamples = 10000, uint64_t seed = 1);

// Effect sizes of a difference of means a - b: Cohen's d on the pooled sd and Hedges' g,
// its small-sample correction (g = d x (1 - 3 / (4 (na + nb) - 9))). NaN when both sds are 0.
struct EffectSize {
  double cohens_d = 0;
  double hedges_g = 0;
};
EffectSize effect_size(const Moments& a, const Moments& b);

// Holm's step-down adjustment of p-values for m simultaneous comparisons: controls the
// family-wise error rate like Bonferroni but rejects more. Returns the adjusted p-values in
// the input order (each in [0, 1]); NaN entries stay NaN and do not count in m.
std::vector<double> holm_adjust(std::span<const double> p_values);

// Regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1.
double incomplete_beta(double x, double a, double b);
// Cumulative distribution of Student's t with `df` (> 0, need not be an integer) degrees of
// freedom.
double student_t_cdf(double t, double df);
// Two-sided tail probability P(|T| >= |t|).
double student_t_two_sided_p(double t, double df);
// Quantile: the t with P(T <= t) = p, 0 < p < 1.
double student_t_quantile(double p, double df);

}  // namespace eco::analysis
