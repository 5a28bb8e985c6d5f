#pragma once
// LLM.int8() arithmetic on the CPU: row-wise int8 weights, per-token int8 activations with the
// outlier-column decomposition, and the reference matmul that the CUDA kernels are checked
// against. Rounding and layout: docs/FORMATS.md, "int8".
#include <cstdint>
#include <vector>

namespace eco::quant {

// fp32 nearest to 1/127 and to 1/(127*127): the constants bitsandbytes multiplies by
// (7.874015718698502e-3 in int8_vectorwise_dequant, 6.200012e-05f as MM_DEQUANT_CONST).
inline constexpr float kInv127 = 1.0f / 127.0f;
inline constexpr float kInv127Squared = 6.200012e-05f;

// Largest inner dimension whose int32 accumulation of int8 x int8 products cannot overflow:
// 127 * 127 * k <= 2^31 - 1.
inline constexpr int64_t kInt8MaxInner = 2147483647LL / (127 * 127);

// Row-wise absmax quantization of a row-major [rows, cols] matrix (weights: one row per output
// feature). row_absmax[r] = max |w[r][c]| (fp32; this is bitsandbytes' SCB, not absmax/127);
// q = round_half_even(w * inv) clamped to [-127, 127] where inv = 127.0f / row_absmax[r]
// (IEEE fp32 division) and the product is rounded to fp32 first. An all-zero row gets absmax 0
// and q 0. Runs in parallel over rows.
void quantize_int8_rows(const float* w, int64_t rows, int64_t cols, int8_t* q, float* row_absmax);

// The value an int8 weight stands for: fp32(fp32(q * absmax) * kInv127).
inline float dequantize_int8(int8_t q, float row_absmax) {
  return (static_cast<float>(q) * row_absmax) * kInv127;
}
void dequantize_int8_rows(const int8_t* q, const float* row_absmax, int64_t rows, int64_t cols,
                          float* out);

// Activations quantized per token row, with LLM.int8()'s outlier columns.
struct Int8Activations {
  int rows = 0;
  int64_t cols = 0;
  std::vector<int8_t> q;              // [rows, cols]; every outlier column holds 0
  std::vector<float> row_absmax;      // [rows], max |x| over the NON-outlier columns
  std::vector<int32_t> outlier_cols;  // ascending; empty when threshold is 0
};

// threshold > 0: column c is an outlier column when ANY row has |x[r][c]| >= threshold. Outlier
// columns are left out of every row's absmax and set to 0 in q. threshold == 0: no outliers
// (pure int8). Per row, q = round_to_int8(x * (127.0f / row_absmax)), or 0 when row_absmax is 0.
// Throws eco::Error for a negative or NaN threshold.
Int8Activations quantize_activations(const float* x, int rows, int64_t cols, float threshold);

// The LLM.int8() reference matmul, y = x W^T for x [rows, in] (fp32) and int8 weights
// W [out, in] with row_absmax [out]:
//   acc[r][o] = sum_k qx[r][k] * qw[o][k]                     (int32, exact)
//   y[r][o]   = fp32(fp32(fp32(acc) * sx[r]) * sw[o]) * kInv127Squared
//             + sum over outlier columns c, ascending, in fp32, of x[r][c] *
//             dequantize_int8(qw[o][c])
// y is [rows, out] and is overwritten. The outlier part uses fp32 inputs here; the CUDA path
// uses fp16 activations and fp16 dequantized weight columns with fp32 accumulation.
// Throws eco::Error when in > kInt8MaxInner or the threshold is invalid.
void int8_linear_forward(const float* x, int rows, int64_t in, const int8_t* weight_q,
                         const float* weight_row_absmax, int64_t out, float threshold, float* y);

}  // namespace eco::quant
