#pragma once
// Device helpers shared by the quantized-format kernels: the LLM.int8() constants, tensor-core
// mma wrappers (fp16 and int8), the fp16 input loader (plain rows or the residual normalised on
// the fly, as gemv.cu does it) and the store of one GEMV tile in each output mode.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/quant_kernels.h"

namespace eco::engine::cuda {

// quant::kInv127 and quant::kInv127Squared (bitsandbytes' constants), as fp32 bit patterns.
#define kQInv127 __int_as_float(0x3C010204)
#define kQInv127Sq __int_as_float(0x38820610)

__device__ __forceinline__ void mma_f16(float* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void mma_s8(int* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                       uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 1 / sqrt(mean square + eps) of input row b (only with rms_gamma set).
__device__ __forceinline__ float row_inv_rms(const QInput& in, int b, int k) {
  return rsqrtf(in.sumsq_in[b] / float(k) + in.eps);
}

// 8 fp16 input values of row b at columns kk..kk+7 (kk % 8 == 0), as one 16-byte word.
__device__ __forceinline__ uint4 load_in8(const QInput& in, bool norm, int b, int kk, float inv) {
  if (norm) {
    const float* xr = in.xf + size_t(b) * in.ldx + kk;
    const float4 f0 = __ldg(reinterpret_cast<const float4*>(xr));
    const float4 f1 = __ldg(reinterpret_cast<const float4*>(xr + 4));
    float gm[8];
    unpack8<__half>(__ldg(reinterpret_cast<const uint4*>(static_cast<const __half*>(in.rms_gamma) + kk)), gm);
    float f[8] = {f0.x, f0.y, f0.z, f0.w, f1.x, f1.y, f1.z, f1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = f[i] * inv * gm[i];
    return pack8<__half>(f);
  }
  return __ldg(reinterpret_cast<const uint4*>(static_cast<const __half*>(in.x) + size_t(b) * in.ldx + kk));
}

// One fp16 input value (the same rounding as load_in8).
__device__ __forceinline__ float load_in1(const QInput& in, bool norm, int b, int j, float inv) {
  if (norm) {
    const float g = __half2float(static_cast<const __half*>(in.rms_gamma)[j]);
    return __half2float(__float2half_rn(in.xf[size_t(b) * in.ldx + j] * inv * g));
  }
  return __half2float(static_cast<const __half*>(in.x)[size_t(b) * in.ldx + j]);
}

// Stores one GEMV tile of warp 0 (the layout of gemv.cu): v = {(row0, b0), (row0, b1),
// (row1, b0), (row1, b1)} with b0 = 8t + 2c, b1 = b0 + 1, row0 = 16 tile + g, row1 = row0 + 8.
// Must be called by all 32 lanes (AddResidual reduces the sums of squares over the warp).
template <GemvOut kOut>
__device__ __forceinline__ void store_tile(const QOut& o, int m, int n, int tile, int g, int c,
                                           int t, const float* v) {
  const int row0 = tile * 16 + g, row1 = row0 + 8;
  const bool ok0 = row0 < n, ok1 = row1 < n;
  const int b0 = 8 * t + 2 * c, b1 = b0 + 1;
  const bool in0 = b0 < m, in1 = b1 < m;
  if constexpr (kOut == GemvOut::StoreT) {
    __half* y = static_cast<__half*>(o.y);
    if (in0 && ok0) y[size_t(b0) * o.ldy + row0] = __float2half_rn(v[0]);
    if (in1 && ok0) y[size_t(b1) * o.ldy + row0] = __float2half_rn(v[1]);
    if (in0 && ok1) y[size_t(b0) * o.ldy + row1] = __float2half_rn(v[2]);
    if (in1 && ok1) y[size_t(b1) * o.ldy + row1] = __float2half_rn(v[3]);
  } else if constexpr (kOut == GemvOut::StoreF32) {
    float* y = static_cast<float*>(o.y);
    if (in0 && ok0) y[size_t(b0) * o.ldy + row0] = v[0];
    if (in1 && ok0) y[size_t(b1) * o.ldy + row0] = v[1];
    if (in0 && ok1) y[size_t(b0) * o.ldy + row1] = v[2];
    if (in1 && ok1) y[size_t(b1) * o.ldy + row1] = v[3];
  } else if constexpr (kOut == GemvOut::AddResidual) {
    float* y = static_cast<float*>(o.y);
    float sq0 = 0.0f, sq1 = 0.0f;
    if (in0 && ok0) { const float r = y[size_t(b0) * o.ldy + row0] + v[0]; y[size_t(b0) * o.ldy + row0] = r; sq0 += r * r; }
    if (in1 && ok0) { const float r = y[size_t(b1) * o.ldy + row0] + v[1]; y[size_t(b1) * o.ldy + row0] = r; sq1 += r * r; }
    if (in0 && ok1) { const float r = y[size_t(b0) * o.ldy + row1] + v[2]; y[size_t(b0) * o.ldy + row1] = r; sq0 += r * r; }
    if (in1 && ok1) { const float r = y[size_t(b1) * o.ldy + row1] + v[3]; y[size_t(b1) * o.ldy + row1] = r; sq1 += r * r; }
    if (o.sumsq_out != nullptr) {
#pragma unroll
      for (int s = 4; s < 32; s <<= 1) {
        sq0 += __shfl_xor_sync(0xffffffffu, sq0, s);
        sq1 += __shfl_xor_sync(0xffffffffu, sq1, s);
      }
      if (g == 0) {
        if (in0) atomicAdd(o.sumsq_out + b0, sq0);
        if (in1) atomicAdd(o.sumsq_out + b1, sq1);
      }
    }
  } else {  // SwiGLU on gate/up rows interleaved by 8: rows 0..7 of the tile gate, 8..15 up
    __half* y = static_cast<__half*>(o.y);
    const int i = tile * 8 + g;
    if (ok1) {
      if (in0) y[size_t(b0) * o.ldy + i] = __float2half_rn(v[0] / (1.0f + __expf(-v[0])) * v[2]);
      if (in1) y[size_t(b1) * o.ldy + i] = __float2half_rn(v[1] / (1.0f + __expf(-v[1])) * v[3]);
    }
  }
}

}  // namespace eco::engine::cuda
