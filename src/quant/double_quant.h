#pragma once
// NF4 double quantization (QLoRA): the fp32 absmax of every 64-block is stored as an 8-bit
// dynamic-map code after subtracting the tensor's mean absmax, in blocks of 256 absmax values
// with one fp32 scale each. Layout and rounding: docs/FORMATS.md, "nf4-dq".
#include <cstdint>

#include "quant/dynamic_map.h"

namespace eco::quant {

inline constexpr int kDoubleQuantBlockSize = 256;

// Number of 256-blocks (= fp32 scales) for n absmax values: ceil(n / 256).
inline int64_t double_quant_block_count(int64_t n) {
  return (n + kDoubleQuantBlockSize - 1) / kDoubleQuantBlockSize;
}

// The offset subtracted from every absmax: their mean, computed in a fixed order so that any
// implementation can reproduce it exactly: partial[j] = sum of absmax in 256-block j, added in
// index order in fp64; total = sum of the partials in order in fp64; offset = fp32(total / n).
// (bitsandbytes uses torch's fp32 mean, whose summation order is not specified.)
float absmax_offset(const float* absmax, int64_t n);

// codes[i] = 8-bit code of fp32(absmax[i] - offset), by quantize_blockwise_8bit with blocks of
// 256; scales: double_quant_block_count(n) floats; *offset as above. n > 0.
void double_quantize_absmax(const float* absmax, int64_t n, uint8_t* codes, float* scales,
                            float* offset);

// The absmax the NF4 dequantizer uses for 64-block i: fp32(fp32(code[q] * scale) + offset),
// two separately rounded operations (bitsandbytes: dequantize_blockwise, then += offset).
inline float dequantize_absmax(const uint8_t* codes, const float* scales, float offset, int64_t i) {
  const float scaled = dynamic_map_signed()[codes[i]] * scales[i / kDoubleQuantBlockSize];
  return scaled + offset;
}

}  // namespace eco::quant
