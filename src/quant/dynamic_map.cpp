#include "quant/dynamic_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.h"

namespace eco::quant {

namespace {

// torch.linspace(start, end, steps) for fp32 as PyTorch's CPU kernel writes it: the step is
// computed in fp32, the first half counts up from start and the second half down from end, so
// both end points are exact.
std::vector<float> linspace_f32(float start, float end, int steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  for (int k = 0; k < steps; ++k) {
    out[static_cast<size_t>(k)] = k < halfway ? start + step * static_cast<float>(k)
                                              : end - step * static_cast<float>(steps - k - 1);
  }
  return out;
}

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for each decade
// i = 0..6, the midpoints of linspace(0.1, 1, 2^i + 1) scaled by 10^(i-6), with both signs;
// then 0 and 1.0; sorted. 2 * (1 + 2 + ... + 64) + 2 = 256 values, so no zero padding.
DynamicMap build_signed_dynamic_map() {
  // 10 ** (i - 6) as Python computes it (a correctly rounded double), multiplied in fp32.
  constexpr double kDecade[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  std::vector<float> values;
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> bounds = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
    const float scale = static_cast<float>(kDecade[i]);
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
      values.push_back(scale * mean);
      values.push_back(-(scale * mean));
    }
  }
  values.push_back(0.0f);
  values.push_back(1.0f);
  std::sort(values.begin(), values.end());
  DynamicMap map{};
  std::copy(values.begin(), values.end(), map.begin());
  return map;
}

}  // namespace

const DynamicMap& dynamic_map_signed() {
  static const DynamicMap map = build_signed_dynamic_map();
  return map;
}

uint8_t dynamic_encode(const DynamicMap& code, float x) {
  int pivot = 127;
  int upper_pivot = 255;
  int lower_pivot = 0;
  float lower = -1.0f;
  float upper = 1.0f;
  float val = code[127];
  for (int step = 64; step > 0; step >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += step;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= step;
    }
    val = code[static_cast<size_t>(pivot)];
  }
  if (upper_pivot == 255) upper = code[255];
  if (lower_pivot == 0) lower = code[0];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return static_cast<uint8_t>(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return static_cast<uint8_t>(x < midpoint ? lower_pivot : pivot);
}

void quantize_blockwise_8bit(const float* x, int64_t n, int block_size, uint8_t* q, float* scale) {
  const DynamicMap& code = dynamic_map_signed();
  const int64_t blocks = (n + block_size - 1) / block_size;
  parallel_for(
      static_cast<size_t>(blocks),
      [&](size_t b0, size_t b1) {
        for (size_t b = b0; b < b1; ++b) {
          const int64_t first = static_cast<int64_t>(b) * block_size;
          const int64_t last = std::min<int64_t>(first + block_size, n);
          float absmax = 0.0f;
          for (int64_t i = first; i < last; ++i) absmax = std::max(absmax, std::fabs(x[i]));
          scale[b] = absmax;
          // As in nf4.cpp: bitsandbytes' 0 * inf = NaN path would give code 0; we keep 0.0.
          const float inv = absmax > 0.0f ? 1.0f / absmax : 0.0f;
          for (int64_t i = first; i < last; ++i) q[i] = dynamic_encode(code, x[i] * inv);
        }
      },
      /*min_chunk=*/64);
}

void dequantize_blockwise_8bit(const uint8_t* q, const float* scale, int64_t n, int block_size,
                               float* out) {
  const DynamicMap& code = dynamic_map_signed();
  for (int64_t i = 0; i < n; ++i) out[i] = code[q[i]] * scale[i / block_size];
}

}  // namespace eco::quant
