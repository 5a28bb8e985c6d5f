#pragma once
// The counter-based generator behind synthetic weights (shared by the writer and the plan):
// element i of a tensor is a function of (seed, tensor index, i) only, so the output does not
// depend on how the work is split between threads.
#include <bit>
#include <cstddef>
#include <cstdint>

#include "model/synth.h"

namespace eco::model::synth_detail {

// splitmix64's output function: a strong 64-bit mix, the basis of the counter-based RNG.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline uint64_t tensor_key(uint64_t seed, uint64_t tensor_index) {
  return mix64(mix64(seed) ^ (tensor_index * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull));
}

// Values are written in memory order; safetensors is little-endian.
static_assert(std::endian::native == std::endian::little, "synthetic writer assumes little-endian");

inline constexpr float kHalfWidth = kSynthWeightStd * 1.7320508075688772f;  // std * sqrt(3)

// 24 random bits -> uniform on [-a, a).
inline float bits_to_value(uint32_t bits24) {
  const float u = float(bits24) * (1.0f / 16777216.0f);  // [0, 1)
  return (2.0f * u - 1.0f) * kHalfWidth;
}

// One hash per pair of elements (2j, 2j + 1); each takes the top 24 bits of its 32-bit half.
inline uint64_t pair_hash(uint64_t key, uint64_t pair) {
  return mix64(key + pair * 0x9e3779b97f4a7c15ull);
}

inline float random_value(uint64_t key, uint64_t i) {
  const uint64_t r = pair_hash(key, i >> 1);
  return bits_to_value(uint32_t(i & 1 ? r >> 32 : r) >> 8);
}

// Elements [begin, begin + n) of a random tensor; the same values as random_value, one hash
// per pair.
inline void fill_random(uint64_t key, uint64_t begin, size_t n, float* out) {
  size_t k = 0;
  if (begin & 1) out[k++] = random_value(key, begin);
  for (; k + 1 < n; k += 2) {
    const uint64_t r = pair_hash(key, (begin + k) >> 1);
    out[k] = bits_to_value(uint32_t(r) >> 8);
    out[k + 1] = bits_to_value(uint32_t(r >> 32) >> 8);
  }
  if (k < n) out[k] = random_value(key, begin + k);
}

}  // namespace eco::model::synth_detail
