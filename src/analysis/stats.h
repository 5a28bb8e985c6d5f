#pragma once
// Descriptive statistics and Student-t inference for small samples of measured runs (n ~ 10).
// Everything here is plain arithmetic on doubles; inputs are not modified.
#include <cstddef>
#include <span>

namespace eco::analysis {

struct Summary {
  size_t n = 0;
  double mean = 0;
  double sd = 0;       // sample standard deviation (n - 1 in the denominator); 0 when n < 2
  double cv = 0;       // sd / |mean|; NaN when the mean is 0
  double ci_low = 0;   // 95 % confidence interval of the mean (Student t, n - 1 df);
  double ci_high = 0;  // equal to the mean when n < 2 (no spread to estimate)
  double min = 0;
  double max = 0;
};

double mean(std::span<const double> xs);
// Sample standard deviation; 0 for fewer than two values.
double sample_sd(std::span<const double> xs);
// Coefficient of variation sd / |mean|; NaN when the mean is 0 or the sample is empty.
double coefficient_of_variation(std::span<const double> xs);
// Mean, sd, CV and the two-sided `confidence` interval of the mean. Throws eco::Error for an
// empty sample or a confidence outside (0, 1).
Summary summarize(std::span<const double> xs, double confidence = 0.95);

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
