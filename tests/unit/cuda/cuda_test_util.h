#pragma once
// Helpers for the CUDA kernel tests: skip without a GPU, device buffers filled from host
// vectors (fp16/bf16 rounding done on the host with common/half.h), poison values.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "common/half.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/linear.h"

namespace eco::engine::cuda::test {

#define ECO_REQUIRE_GPU()                                                           \
  do {                                                                              \
    if (::eco::engine::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

inline std::vector<float> randn(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline uint16_t to_bits(float f, DevType t) {
  return t == DevType::F16 ? float_to_half(f) : float_to_bf16(f);
}
inline float from_bits(uint16_t b, DevType t) {
  return t == DevType::F16 ? half_to_float(b) : bf16_to_float(b);
}
inline float round_t(float f, DevType t) {
  return from_bits(to_bits(f, t), t);
}
inline void round_all(std::vector<float>& v, DevType t) {
  for (auto& x : v) x = round_t(x, t);
}

// A device copy of host floats stored as T (fp16/bf16).
inline DeviceBuffer upload_t(const std::vector<float>& v, DevType t) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) bits[i] = to_bits(v[i], t);
  DeviceBuffer b(std::max<size_t>(bits.size() * 2, 2), "test buffer");
  EXPECT_EQ(cudaMemcpy(b.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  return b;
}
template <typename U>
DeviceBuffer upload_raw(const std::vector<U>& v) {
  DeviceBuffer b(std::max<size_t>(v.size() * sizeof(U), 4), "test buffer");
  EXPECT_EQ(cudaMemcpy(b.get(), v.data(), v.size() * sizeof(U), cudaMemcpyHostToDevice),
            cudaSuccess);
  return b;
}
inline std::vector<float> download_t(const DeviceBuffer& b, size_t n, DevType t) {
  std::vector<uint16_t> bits(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(bits.data(), b.get(), n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = from_bits(bits[i], t);
  return v;
}
template <typename U>
std::vector<U> download_raw(const DeviceBuffer& b, size_t n) {
  std::vector<U> v(n);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(v.data(), b.get(), n * sizeof(U), cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}

// ||got - want|| / ||want||; NaN anywhere (an unwritten poisoned element) gives infinity.
inline double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace eco::engine::cuda::test
