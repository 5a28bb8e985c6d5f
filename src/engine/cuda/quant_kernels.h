#pragma once
// Host-side launchers of the quantized-format kernels: on-device quantization at load
// time (quantize.cu), LLM.int8() activation quantization, GEMV and the reference-bnb pieces
// (int8_gemv.cu), the int32 -> output epilogue of the large-batch int8 GEMM (int8_gemm.cu), and
// the NF4 fused GEMV and dequantizer (nf4_gemv.cu). Plain C++ (CUDA runtime types only). The
// byte layouts are those of docs/FORMATS.md; every launcher throws eco::Error naming `step`.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "engine/cuda/kernels.h"

namespace eco::engine::cuda {

enum class QFormat { Int8, NF4, NF4DQ };

// Device view of one quantized [n, k] matrix (the buffers of quant::QuantizedMatrix).
struct QMatView {
  QFormat fmt = QFormat::Int8;
  int n = 0, k = 0;
  const uint8_t* data = nullptr;     // int8 codes [n, k] or packed NF4 codes [ceil(n k / 2)]
  const float* absmax = nullptr;     // int8: row absmax [n]; nf4: block absmax [ceil(n k / 64)]
  const uint8_t* codes = nullptr;    // nf4-dq: absmax codes [blocks]
  const float* dq_scales = nullptr;  // nf4-dq: [ceil(blocks / 256)]
  const float* dq_offset = nullptr;  // nf4-dq: one float (device)
  const float* dmap = nullptr;       // nf4-dq: the 256-entry dynamic map (device)
};

// ---- quantize.cu ---------------------------------------------------------------------------
// Source rows r of a [rows, cols] tensor stored as `src_t` go to destination row
// (r / group) * group_stride + offset + r % group (as launch_convert_rows places them).
struct RowMap {
  int64_t group = INT64_MAX, group_stride = 0, offset = 0;
};
void launch_quantize_int8_rows(SrcType src_t, const void* src, int64_t rows, int64_t cols,
                               RowMap map, int64_t src_first_row, uint8_t* q, float* row_absmax,
                               cudaStream_t stream, const std::string& step);
// NF4 of `count` consecutive source elements. With cols % 64 == 0 the blocks lie within rows
// and are placed through `map` (src element (r, c) -> dst element map(r) * cols + c); otherwise
// map must be the identity and the destination starts at flat element dst_first (a multiple
// of 64).
void launch_quantize_nf4(SrcType src_t, const void* src, int64_t count, int64_t cols, RowMap map,
                         int64_t src_first_row, int64_t dst_first, uint8_t* packed, float* absmax,
                         cudaStream_t stream, const std::string& step);
// Double quantization of `blocks` absmax values (docs/FORMATS.md "nf4-dq"). partial: scratch
// of ceil(blocks / 256) doubles.
void launch_double_quant(const float* absmax, int64_t blocks, uint8_t* codes, float* scales,
                         float* offset, double* partial, cudaStream_t stream,
                         const std::string& step);
// The 256 values of quant::dynamic_map_signed(), copied to constant memory once per process.
void upload_dynamic_map(const float* map256, cudaStream_t stream);
// fp16 [n, k] = dequantized weights (fp32 value rounded to fp16), any shape.
void launch_dequantize_f16(const QMatView& w, void* out, cudaStream_t stream,
                           const std::string& step);

// ---- int8_gemv.cu ----------------------------------------------------------------------------
// Activations of LLM.int8(), written by launch_int8_quantize_activations.
struct Int8Act {
  void* xh = nullptr;         // fp16 [m, k]: the input rows as the matmul sees them
  int8_t* xq = nullptr;       // [m, k]; 0 in outlier columns
  float* sx = nullptr;        // [m] absmax over the non-outlier columns
  int* n_outliers = nullptr;  // [1]
  int* cols = nullptr;        // [k] ascending outlier columns
  uint8_t* flags = nullptr;   // [k] scratch
};
void launch_int8_quantize_activations(const GemvIn& in, int m, int k, float threshold,
                                      const Int8Act& act, cudaStream_t stream,
                                      const std::string& step);
int int8_gemv_max_batch();
// Fused LLM.int8() GEMV for m <= int8_gemv_max_batch(): int8 x int8 tensor-core products with
// int32 accumulation, dequantized in the epilogue, plus the fp16 outlier columns read from
// act.cols on the device (no host round trip); then the output mode.
void launch_int8_gemv(const QMatView& w, int m, const Int8Act& act, bool outliers,
                      const GemvDst& out, cudaStream_t stream, const std::string& step);
// reference-bnb pieces: gathers of the outlier columns (count known on the host).
void launch_gather_x_cols(const void* xh, int m, int k, const int* cols, int n_out, void* xo,
                          cudaStream_t stream, const std::string& step);
void launch_gather_w_cols(const QMatView& w, const int* cols, int n_out, void* wo,
                          cudaStream_t stream, const std::string& step);

// ---- int8_gemm.cu ----------------------------------------------------------------------------
// Fused path's outlier product for any batch, count read on the device: x[:, cols] (fp16) *
// fp16(dequantized w[:, cols])^T on tensor cores, as S partial sums y[S, m, n] (fp32) over
// interleaved slices of the outlier columns; returns S (chosen from the grid's size and
// y_floats). xo_scratch: fp16 room for [m, k]; wt_scratch: fp16 room for [k, n]. y is left
// unwritten when the count is 0.
int launch_int8_outlier_product(const QMatView& w, int m, const Int8Act& act, void* xo_scratch,
                                void* wt_scratch, float* y, size_t y_floats, cudaStream_t stream,
                                const std::string& step);
// Epilogue of the large-batch int8 path: y = fp32(fp32(fp32(acc) * sx[r]) * sw[o]) / 127^2,
// plus the `splits` partial sums outlier_f32[s, r, o] when given (with outliers_optional: only
// when the device-side count is above 0), then the output mode.
void launch_int8_dequant_epilogue(const int32_t* acc, int m, const QMatView& w, const Int8Act& act,
                                  const float* outlier_f32, int splits, bool outliers_optional,
                                  const GemvDst& out, cudaStream_t stream, const std::string& step);

// ---- nf4_gemv.cu -----------------------------------------------------------------------------
// Fused dequantize-GEMV for NF4 / NF4-DQ with k % 64 == 0 and m <= 64.
int nf4_fused_max_batch_limit();
void launch_nf4_gemv(const QMatView& w, int m, const GemvIn& in, const GemvDst& out,
                     cudaStream_t stream, const std::string& step);

}  // namespace eco::engine::cuda
