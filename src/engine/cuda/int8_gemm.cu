// Large-batch LLM.int8(): the int8 x int8 -> int32 product itself runs in cuBLAS (IMMA tensor
// cores, CUBLAS_COMPUTE_32I; see quant_linear.cpp). This file holds what surrounds it:
//   - the fused path's outlier product, on tensor cores with the outlier count read on the
//     device (no host round trip): gather the outlier activations [m, n_out] and the
//     dequantized outlier weight columns [n_out, n] (fp16), then an fp16 x fp16 -> fp32 GEMM
//     whose k loop runs to the device-side count;
//   - the epilogue: dequantize with both scales in bitsandbytes' order, add the outlier
//     product (the fused path's, or reference-bnb's cuBLAS fp16 GEMM output), output mode.
#include <mma.h>

#include <algorithm>

#include "engine/cuda/quant_common.cuh"

namespace eco::engine::cuda {
namespace {

// Outlier GEMM tile: 64 rows x 128 outputs per block of 8 warps (2 x 4, 32 x 32 each), k steps
// of 32 outlier columns. The k extent is the device-side count, so the same launch serves any
// number of outliers; zero outliers cost one read of the count per block.
constexpr int kOBM = 64, kOBN = 128, kOBK = 32, kOThreads = 256;

// xo[b, j] = xh[b, cols[j]] for j < n_out (row stride k). grid (m), block 256.
__global__ void gather_outlier_x_kernel(const __half* xh, int k, const int* n_outliers,
                                        const int* cols, __half* xo) {
  const int n_out = *n_outliers;
  const size_t row = size_t(blockIdx.x) * k;
  for (int j = threadIdx.x; j < n_out; j += blockDim.x) xo[row + j] = xh[row + cols[j]];
}

// The dequantized weight of each outlier column, transposed so that the GEMM's loads are
// coalesced: wt[j, o] = fp16(w[o, cols[j]] * absmax[o] / 127) (bitsandbytes' state.subB).
// grid (ceil(n / 256), any): blockIdx.y strides over the device-side outlier count.
__global__ void gather_outlier_weights_kernel(const QMatView w, const int* n_outliers,
                                              const int* cols, __half* wt) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= w.n) return;
  const int n_out = *n_outliers;
  const int8_t* wr = reinterpret_cast<const int8_t*>(w.data) + size_t(o) * w.k;
  const float sw = w.absmax[o];
  for (int j = blockIdx.y; j < n_out; j += gridDim.y)
    wt[size_t(j) * w.n + o] =
        __float2half_rn(__fmul_rn(__fmul_rn(float(wr[cols[j]]), sw), kQInv127));
}

// 8 consecutive fp16 values of row `r` from column c (zero past `cols` or when the row is
// out of range); vector load when the whole group is inside and aligned.
__device__ __forceinline__ uint4 load8_guarded(const __half* p, size_t ld, int r, int rows, int c,
                                               int cols, bool vec_ok) {
  uint4 v = make_uint4(0, 0, 0, 0);
  if (r >= rows || c >= cols) return v;
  const __half* src = p + size_t(r) * ld + c;
  if (vec_ok && c + 8 <= cols) return *reinterpret_cast<const uint4*>(src);
  __half* h = reinterpret_cast<__half*>(&v);
  for (int i = 0; i < 8 && c + i < cols; ++i) h[i] = src[i];
  return v;
}

// y[s, b, o] = sum over the k steps j0 = 32 (s + i S) < n_out of xo[b, j] * wt[j, o], in fp32
// (fp16 products, as cuBLAS's fp16 GEMM with fp32 compute in the reference-bnb path), for
// split s of S = gridDim.z; the epilogue adds the S partial sums in order (deterministic).
// Splitting k keeps the GPU busy when m x n has few tiles (decode: m = 64, n = 4096 is 32
// tiles) and the outlier count is large. Blocks leave y untouched when n_out == 0 (the
// epilogue then skips it). grid (ceil(n / 128), ceil(m / 64), S).
__global__ void __launch_bounds__(kOThreads)
    outlier_gemm_kernel(const __half* xo, int ldx, int m, const __half* wt, int n,
                        const int* n_outliers, float* y) {
  using namespace nvcuda;
  const int n_out = *n_outliers;
  if (n_out == 0) return;
  // Rows padded by 8 halves / 4 floats against bank conflicts; every fragment pointer stays
  // 32-byte aligned (16-row steps of 80, 272 and 528 bytes).
  __shared__ __align__(32) __half sa[kOBM][kOBK + 8];
  __shared__ __align__(32) __half sb[kOBK][kOBN + 8];
  __shared__ __align__(32) float sc[kOBM][kOBN + 4];
  const int tid = threadIdx.x, warp = tid >> 5;
  const int wm = warp / 4, wn = warp % 4;
  const int r0 = blockIdx.y * kOBM, c0 = blockIdx.x * kOBN;
  const bool x_vec = ldx % 8 == 0, w_vec = n % 8 == 0;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int j0 = blockIdx.z * kOBK; j0 < n_out; j0 += gridDim.z * kOBK) {
    {  // A: 64 x 32 halves, one 8-wide group per thread.
      const int r = tid >> 2, cc = (tid & 3) * 8;
      *reinterpret_cast<uint4*>(&sa[r][cc]) =
          load8_guarded(xo, size_t(ldx), r0 + r, m, j0 + cc, n_out, x_vec);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {  // B: 32 x 128 halves, two groups per thread.
      const int q = tid + i * kOThreads;
      const int r = q >> 4, cc = (q & 15) * 8;
      *reinterpret_cast<uint4*>(&sb[r][cc]) =
          load8_guarded(wt, size_t(n), j0 + r, n_out, c0 + cc, n, w_vec);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kOBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &sa[wm * 32 + i * 16][kk], kOBK + 8);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &sb[kk][wn * 32 + j * 16], kOBN + 8);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&sc[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], kOBN + 4,
                              wmma::mem_row_major);
  __syncthreads();
  float* ys = y + size_t(blockIdx.z) * m * n;
  for (int idx = tid; idx < kOBM * kOBN; idx += kOThreads) {
    const int r = idx / kOBN, c = idx % kOBN;
    if (r0 + r < m && c0 + c < n) ys[size_t(r0 + r) * n + c0 + c] = sc[r][c];
  }
}

// acc * sx[b] * sw[o] / 127^2 (bitsandbytes' order of fp32 products) plus the outlier product.
// splits: partial outlier products [splits, m, n], summed in order.
__device__ __forceinline__ float int8_value(const int32_t* acc, int m, int n, int b, int o,
                                            const QMatView& w, const Int8Act& act,
                                            const float* outlier_f32, int splits) {
  float v = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[size_t(b) * n + o]), act.sx[b]), w.absmax[o]),
                      kQInv127Sq);
  if (outlier_f32 != nullptr) {
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += outlier_f32[(size_t(z) * m + b) * n + o];
    v += s;
  }
  return v;
}

// grid (ceil(n_out_cols / 256), m): a warp covers consecutive outputs of one row. With
// outliers_optional (fused path) a device-side count of 0 means outlier_f32 was not written.
template <GemvOut kOut>
__global__ void epilogue_kernel(const int32_t* acc, int m, const QMatView w, const Int8Act act,
                                const float* outlier_f32, int splits, bool outliers_optional,
                                const GemvDst out) {
  if (outliers_optional && *act.n_outliers == 0) outlier_f32 = nullptr;
  const int b = blockIdx.y;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if constexpr (kOut == GemvOut::SwiGLU) {
    if (i >= w.n / 2) return;
    const int gcol = (i / 8) * 16 + i % 8;
    const float gate = int8_value(acc, m, w.n, b, gcol, w, act, outlier_f32, splits);
    const float up = int8_value(acc, m, w.n, b, gcol + 8, w, act, outlier_f32, splits);
    static_cast<__half*>(out.y)[size_t(b) * out.ldy + i] =
        __float2half_rn(gate / (1.0f + __expf(-gate)) * up);
  } else {
    const bool ok = i < w.n;
    const float v = ok ? int8_value(acc, m, w.n, b, i, w, act, outlier_f32, splits) : 0.0f;
    if constexpr (kOut == GemvOut::StoreT) {
      if (ok) static_cast<__half*>(out.y)[size_t(b) * out.ldy + i] = __float2half_rn(v);
    } else if constexpr (kOut == GemvOut::StoreF32) {
      if (ok) static_cast<float*>(out.y)[size_t(b) * out.ldy + i] = v;
    } else {
      float sq = 0.0f;
      if (ok) {
        float* y = static_cast<float*>(out.y) + size_t(b) * out.ldy + i;
        const float r = *y + v;
        *y = r;
        sq = r * r;
      }
      if (out.sumsq_out != nullptr) {
        sq = warp_sum(sq);
        if ((threadIdx.x & 31) == 0) atomicAdd(out.sumsq_out + b, sq);
      }
    }
  }
}

// The device's SM count, queried once (before any graph capture: prefill comes first); the
// launcher has no engine to ask.
int sm_count(const std::string& step) {
  static const int n = [&] {
    int dev = 0, v = 0;
    ECO_CUDA_CHECK(cudaGetDevice(&dev), step + " (current device)");
    ECO_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev),
                   step + " (SM count)");
    return v;
  }();
  return n;
}

}  // namespace

int launch_int8_outlier_product(const QMatView& w, int m, const Int8Act& act, void* xo_scratch,
                                void* wt_scratch, float* y, size_t y_floats, cudaStream_t stream,
                                const std::string& step) {
  gather_outlier_x_kernel<<<m, 256, 0, stream>>>(static_cast<const __half*>(act.xh), w.k,
                                                 act.n_outliers, act.cols,
                                                 static_cast<__half*>(xo_scratch));
  ECO_LAUNCH_CHECK(step + cat(" (int8 outlier activation gather m=", m, ")"));
  gather_outlier_weights_kernel<<<dim3((w.n + 255) / 256, 16), 256, 0, stream>>>(
      w, act.n_outliers, act.cols, static_cast<__half*>(wt_scratch));
  ECO_LAUNCH_CHECK(step + cat(" (int8 outlier weight gather n=", w.n, ")"));
  // About two blocks per SM, at most one split per 32 columns of k, as much as y holds.
  const int tiles = ((w.n + kOBN - 1) / kOBN) * ((m + kOBM - 1) / kOBM);
  const size_t per_split = size_t(m) * w.n;
  int splits = std::max(1, (2 * sm_count(step) + tiles - 1) / tiles);
  splits = std::min({splits, 16, (w.k + kOBK - 1) / kOBK, int(y_floats / per_split)});
  if (splits < 1)
    throw_error(cat(step, ": internal: outlier product scratch holds ", y_floats, " floats, needs ",
                    per_split));
  const dim3 grid((w.n + kOBN - 1) / kOBN, (m + kOBM - 1) / kOBM, splits);
  outlier_gemm_kernel<<<grid, kOThreads, 0, stream>>>(static_cast<const __half*>(xo_scratch), w.k,
                                                      m, static_cast<const __half*>(wt_scratch),
                                                      w.n, act.n_outliers, y);
  ECO_LAUNCH_CHECK(step + cat(" (int8 outlier gemm m=", m, " n=", w.n, " splits=", splits, ")"));
  return splits;
}

void launch_int8_dequant_epilogue(const int32_t* acc, int m, const QMatView& w, const Int8Act& act,
                                  const float* outlier_f32, int splits, bool outliers_optional,
                                  const GemvDst& out, cudaStream_t stream,
                                  const std::string& step) {
  const int cols = out.kind == GemvOut::SwiGLU ? w.n / 2 : w.n;
  const dim3 grid((cols + 255) / 256, m), block(256);
  const bool opt = outliers_optional;
  switch (out.kind) {
    case GemvOut::StoreT:
      epilogue_kernel<GemvOut::StoreT>
          <<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, splits, opt, out);
      break;
    case GemvOut::StoreF32:
      epilogue_kernel<GemvOut::StoreF32>
          <<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, splits, opt, out);
      break;
    case GemvOut::AddResidual:
      epilogue_kernel<GemvOut::AddResidual>
          <<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, splits, opt, out);
      break;
    case GemvOut::SwiGLU:
      epilogue_kernel<GemvOut::SwiGLU>
          <<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, splits, opt, out);
      break;
  }
  ECO_LAUNCH_CHECK(step + cat(" (int8 dequantize epilogue m=", m, " n=", w.n, ")"));
}

}  // namespace eco::engine::cuda
