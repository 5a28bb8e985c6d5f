#pragma once
// Fresh random test data for the quant property tests. Seeds come from std::random_device so
// every run checks new values; a failing seed is printed by the test via SCOPED_TRACE.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace eco::quant::testing {

inline uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

inline std::vector<float> normal_values(size_t n, float sigma, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Normal values whose scale also varies from row to row (weights of real models do).
inline std::vector<float> rows_of_varying_scale(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-6.0f, 3.0f);
  std::vector<float> v(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float s = std::exp2(log_scale(gen));
    for (int64_t c = 0; c < cols; ++c) v[size_t(r * cols + c)] = s * dist(gen);
  }
  return v;
}

// Naive fp64 reference y = x W^T for x [rows, in], W [out, in].
inline std::vector<double> matmul_ref(const std::vector<float>& x, int rows,
                                      const std::vector<float>& w, int64_t out, int64_t in) {
  std::vector<double> y(size_t(rows * out), 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = 0.0;
      for (int64_t k = 0; k < in; ++k) s += double(x[size_t(r * in + k)]) * w[size_t(o * in + k)];
      y[size_t(r * out + o)] = s;
    }
  }
  return y;
}

// The rounding bound of y = x W^T computed in float: any order of summing a dot product's n
// float products errs by at most gamma_n = n u / (1 - n u) times the sum of their magnitudes
// (u = 2^-24; Higham, "Accuracy and Stability of Numerical Algorithms", 3.1). A bound on |ref|
// alone fails when the terms cancel.
inline std::vector<double> float_matmul_error_bound(const std::vector<float>& x, int rows,
                                                    const std::vector<float>& w, int64_t out,
                                                    int64_t in) {
  const double nu = double(in) * 0x1p-24;
  const double gamma = nu / (1.0 - nu);
  std::vector<double> bound(size_t(rows * out), 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = 0.0;
      for (int64_t k = 0; k < in; ++k)
        s += std::abs(double(x[size_t(r * in + k)]) * w[size_t(o * in + k)]);
      bound[size_t(r * out + o)] = gamma * s;
    }
  }
  return bound;
}

}  // namespace eco::quant::testing
