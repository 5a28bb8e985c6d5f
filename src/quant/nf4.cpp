#include "quant/nf4.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

namespace eco::quant {

namespace {

// One block of up to 64 elements starting at an even element index, so its codes fill whole
// bytes (except the very last byte of an odd-length array) and blocks never share a byte.
void quantize_block(const float* w, int64_t count, uint8_t* packed, float* absmax_out) {
  float absmax = 0.0f;
  for (int64_t i = 0; i < count; ++i) absmax = std::max(absmax, std::fabs(w[i]));
  *absmax_out = absmax;
  // bitsandbytes multiplies by the fp32 reciprocal; for absmax 0 it would compute 0 * inf = NaN
  // and store code 0 (-1.0). Using 0 instead keeps the block's codes at 7 (exactly 0.0).
  const float inv = absmax > 0.0f ? 1.0f / absmax : 0.0f;
  uint8_t codes[kNF4BlockSize + 1];
  for (int64_t i = 0; i < count; ++i) codes[i] = nf4_encode(w[i] * inv);
  codes[count] = 0;  // low-nibble padding of an odd tail
  for (int64_t i = 0; i < count; i += 2) {
    packed[i / 2] = static_cast<uint8_t>((codes[i] << 4) | codes[i + 1]);
  }
}

}  // namespace

void quantize_nf4(const float* w, int64_t n, uint8_t* packed, float* absmax) {
  const int64_t blocks = nf4_block_count(n);
  parallel_for(
      static_cast<size_t>(blocks),
      [&](size_t b0, size_t b1) {
        for (size_t b = b0; b < b1; ++b) {
          const int64_t first = static_cast<int64_t>(b) * kNF4BlockSize;
          const int64_t count = std::min<int64_t>(kNF4BlockSize, n - first);
          quantize_block(w + first, count, packed + first / 2, absmax + b);
        }
      },
      /*min_chunk=*/1024);
}

void dequantize_nf4(const uint8_t* packed, const float* absmax, int64_t n, float* out) {
  const int64_t blocks = nf4_block_count(n);
  parallel_for(
      static_cast<size_t>(blocks),
      [&](size_t b0, size_t b1) {
        for (size_t b = b0; b < b1; ++b) {
          const int64_t first = static_cast<int64_t>(b) * kNF4BlockSize;
          const int64_t last = std::min<int64_t>(first + kNF4BlockSize, n);
          for (int64_t i = first; i < last; ++i) {
            out[i] = nf4_decode(nf4_code_at(packed, i), absmax[b]);
          }
        }
      },
      /*min_chunk=*/1024);
}

}  // namespace eco::quant
