#include "quant/double_quant.h"

#include <algorithm>
#include <vector>

#include "common/parallel.h"

namespace eco::quant {

float absmax_offset(const float* absmax, int64_t n) {
  if (n <= 0) return 0.0f;
  const int64_t blocks = double_quant_block_count(n);
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(
      static_cast<size_t>(blocks),
      [&](size_t b0, size_t b1) {
        for (size_t b = b0; b < b1; ++b) {
          const int64_t first = static_cast<int64_t>(b) * kDoubleQuantBlockSize;
          const int64_t last = std::min<int64_t>(first + kDoubleQuantBlockSize, n);
          double sum = 0.0;
          for (int64_t i = first; i < last; ++i) sum += static_cast<double>(absmax[i]);
          partial[b] = sum;
        }
      },
      /*min_chunk=*/256);
  double total = 0.0;
  for (double p : partial) total += p;
  return static_cast<float>(total / static_cast<double>(n));
}

void double_quantize_absmax(const float* absmax, int64_t n, uint8_t* codes, float* scales,
                            float* offset) {
  const float mean = absmax_offset(absmax, n);
  std::vector<float> centered(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) centered[static_cast<size_t>(i)] = absmax[i] - mean;
  quantize_blockwise_8bit(centered.data(), n, kDoubleQuantBlockSize, codes, scales);
  *offset = mean;
}

}  // namespace eco::quant
