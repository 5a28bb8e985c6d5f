#pragma once
// A weight matrix [rows = out features, cols = in features] stored in one weight format, with
// the quantize / dequantize entry points and the reference matmul of every format. The engines
// load a tensor as fp32 (converted exactly from its fp16/bf16/fp32 storage), call
// quantize_matrix once, and then either upload the buffers (CUDA) or call linear_forward (CPU).
// The byte layout of each buffer is specified in docs/FORMATS.md.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "quant/format.h"

namespace eco::quant {

struct QuantizedMatrix {
  WeightFormat format = WeightFormat::F32;  // never Native (quantize_matrix stores it as F32)
  int64_t rows = 0;                         // output features
  int64_t cols = 0;                         // input features; elements are row-major
  float int8_threshold = 0.0f;              // Int8 only: outlier threshold (0 = pure int8)

  // Element payload, by format:
  //   F32        float32 little-endian, rows*cols*4 bytes
  //   FP16, BF16 IEEE binary16 / bfloat16 little-endian (round to nearest even), rows*cols*2
  //   Int8       int8 two's complement, rows*cols bytes
  //   NF4, NF4DQ 4-bit codes of the flattened matrix, element 2k in the HIGH nibble of byte k,
  //              element 2k+1 in the low nibble; ceil(rows*cols/2) bytes (odd tail: low nibble 0)
  std::vector<uint8_t> data;
  std::vector<float> row_absmax;      // Int8: [rows], max |w| of each row (scale = absmax/127)
  std::vector<float> block_absmax;    // NF4: [ceil(rows*cols/64)], max |w| of each 64-block
  std::vector<uint8_t> absmax_codes;  // NF4DQ: [ceil(rows*cols/64)], 8-bit dynamic-map codes
  std::vector<float> absmax_scales;  // NF4DQ: [ceil(blocks/256)], absmax of each 256 centred absmax
  float absmax_offset = 0.0f;        // NF4DQ: mean absmax, added back after dequantizing

  int64_t numel() const { return rows * cols; }
  // Bytes of every buffer above, plus 4 for absmax_offset in NF4DQ: what the format costs.
  size_t bytes() const;
  double bytes_per_weight() const {
    return numel() > 0 ? static_cast<double>(bytes()) / static_cast<double>(numel()) : 0.0;
  }
  // The absmax NF4/NF4DQ uses for 64-block b (after double dequantization for NF4DQ).
  float nf4_block_absmax(int64_t b) const;
};

// bytes() of a rows x cols matrix in `format`, without quantizing anything.
size_t quantized_bytes(WeightFormat format, int64_t rows, int64_t cols);

// Quantizes w (row-major [rows, cols], fp32) to spec.format (Native is stored as F32).
// `name` (e.g. the tensor name) is used in error messages. Throws eco::Error when a dimension
// is not positive, when an element is NaN or infinite (reported with its row and column), or
// for Int8 when cols exceeds the int32 accumulator limit. Runs in parallel.
QuantizedMatrix quantize_matrix(const float* w, int64_t rows, int64_t cols, const FormatSpec& spec,
                                std::string_view name = "weight matrix");

// The fp32 values the quantized matrix stands for (every format's dequantizer, bit-exact with
// the CUDA dequantizers before any fp16 rounding). out: rows*cols floats.
void dequantize_matrix(const QuantizedMatrix& m, float* out);
std::vector<float> dequantize_matrix(const QuantizedMatrix& m);
// Rows [first, first + count) only; out: count*cols floats.
void dequantize_rows(const QuantizedMatrix& m, int64_t first, int64_t count, float* out);

// The reference matmul of the matrix's format, y = x W^T: x is [rows, m.cols], y is
// [rows, m.rows] (overwritten). Int8 runs int8_linear_forward with m.int8_threshold; every
// other format dequantizes one weight row at a time and takes fp32 dot products (fixed order, so
// results do not depend on the thread count). This is what a cpu::Linear subclass calls.
void linear_forward(const QuantizedMatrix& m, const float* x, int rows, float* y);

// The NF4 / NF4-DQ reference GEMM (same as linear_forward for those formats).
void nf4_linear_forward(const float* x, int rows, const QuantizedMatrix& m, float* y);
// The LLM.int8() reference matmul for an Int8 QuantizedMatrix with an explicit threshold.
void int8_linear_forward(const float* x, int rows, const QuantizedMatrix& m, float threshold,
                         float* y);

}  // namespace eco::quant
