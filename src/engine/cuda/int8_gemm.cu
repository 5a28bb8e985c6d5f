// Large-batch LLM.int8(): the int8 x int8 -> int32 product itself runs in cuBLAS (IMMA tensor
// cores, CUBLAS_COMPUTE_32I; see quant_linear.cpp); this file is its epilogue: dequantize with
// both scales in bitsandbytes' order, add the outlier columns (from the reference-bnb fp16
// GEMM's output, or computed here from the device-side column list), apply the output mode.
#include "engine/cuda/quant_common.cuh"

namespace eco::engine::cuda {
namespace {

__device__ __forceinline__ float int8_value(const int32_t* acc, int n, int b, int o,
                                            const QMatView& w, const Int8Act& act,
                                            const float* outlier_f32, const __half* outlier_wt) {
  float v = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[size_t(b) * n + o]), act.sx[b]), w.absmax[o]),
                      kQInv127Sq);
  if (outlier_f32 != nullptr) {
    v += outlier_f32[size_t(b) * n + o];
  } else if (outlier_wt != nullptr) {
    const int n_out = *act.n_outliers;
    const __half* xr = static_cast<const __half*>(act.xh) + size_t(b) * w.k;
    float s = 0.0f;
    for (int j = 0; j < n_out; ++j)  // adjacent threads read adjacent outputs o: coalesced
      s += __half2float(xr[act.cols[j]]) * __half2float(outlier_wt[size_t(j) * w.n + o]);
    v += s;
  }
  return v;
}

// The dequantized weight of each outlier column, once per matmul, transposed so that the
// epilogue's reads are coalesced: wt[j, o] = fp16(w[o, cols[j]] * absmax[o] / 127). Reading the
// int8 weight column by column straight from the epilogue costs one memory sector per row of
// the batch and outlier column. The sum itself is still O(rows x outputs x outliers) on CUDA
// cores (int8 at batch 64 with planted outliers: 101 ms/step on an H200, BENCHMARKS.md).
// grid (ceil(n / 256), any): blockIdx.y strides over the device-side outlier count.
__global__ void gather_outlier_weights_kernel(const QMatView w, const Int8Act act, __half* wt) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= w.n) return;
  const int n_out = *act.n_outliers;
  const int8_t* wr = reinterpret_cast<const int8_t*>(w.data) + size_t(o) * w.k;
  const float sw = w.absmax[o];
  for (int j = blockIdx.y; j < n_out; j += gridDim.y)
    wt[size_t(j) * w.n + o] = __float2half_rn(__fmul_rn(__fmul_rn(float(wr[act.cols[j]]), sw), kQInv127));
}

// grid (ceil(n_out_cols / 256), m): a warp covers consecutive outputs of one row.
template <GemvOut kOut>
__global__ void epilogue_kernel(const int32_t* acc, int m, const QMatView w, const Int8Act act,
                                const float* outlier_f32, const __half* outlier_wt, const QOut out) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if constexpr (kOut == GemvOut::SwiGLU) {
    if (i >= w.n / 2) return;
    const int gcol = (i / 8) * 16 + i % 8;
    const float gate = int8_value(acc, w.n, b, gcol, w, act, outlier_f32, outlier_wt);
    const float up = int8_value(acc, w.n, b, gcol + 8, w, act, outlier_f32, outlier_wt);
    static_cast<__half*>(out.y)[size_t(b) * out.ldy + i] =
        __float2half_rn(gate / (1.0f + __expf(-gate)) * up);
  } else {
    const bool ok = i < w.n;
    const float v = ok ? int8_value(acc, w.n, b, i, w, act, outlier_f32, outlier_wt) : 0.0f;
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

}  // namespace

void launch_int8_dequant_epilogue(const int32_t* acc, int m, const QMatView& w, const Int8Act& act,
                                  const float* outlier_f32, void* outlier_wt_scratch,
                                  const QOut& out, cudaStream_t stream, const std::string& step) {
  const __half* outlier_wt = nullptr;
  if (outlier_wt_scratch != nullptr && outlier_f32 == nullptr) {
    gather_outlier_weights_kernel<<<dim3((w.n + 255) / 256, 16), 256, 0, stream>>>(
        w, act, static_cast<__half*>(outlier_wt_scratch));
    ECO_LAUNCH_CHECK(step + fmt::format(" (int8 outlier weight gather n={})", w.n));
    outlier_wt = static_cast<const __half*>(outlier_wt_scratch);
  }
  const int cols = out.kind == GemvOut::SwiGLU ? w.n / 2 : w.n;
  const dim3 grid((cols + 255) / 256, m), block(256);
  switch (out.kind) {
    case GemvOut::StoreT: epilogue_kernel<GemvOut::StoreT><<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, outlier_wt, out); break;
    case GemvOut::StoreF32: epilogue_kernel<GemvOut::StoreF32><<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, outlier_wt, out); break;
    case GemvOut::AddResidual: epilogue_kernel<GemvOut::AddResidual><<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, outlier_wt, out); break;
    case GemvOut::SwiGLU: epilogue_kernel<GemvOut::SwiGLU><<<grid, block, 0, stream>>>(acc, m, w, act, outlier_f32, outlier_wt, out); break;
  }
  ECO_LAUNCH_CHECK(step + fmt::format(" (int8 dequantize epilogue m={} n={})", m, w.n));
}

}  // namespace eco::engine::cuda
