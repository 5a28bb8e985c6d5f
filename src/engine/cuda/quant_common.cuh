#pragma once
// Device helpers of the quantized-format kernels on top of the small-batch matmul skeleton
// (gemv_tile.cuh): the LLM.int8() constants and the one-value fp16 input loader.
#include "engine/cuda/gemv_tile.cuh"
#include "engine/cuda/quant_kernels.h"

namespace eco::engine::cuda {

// quant::kInv127 and quant::kInv127Squared (bitsandbytes' constants), as fp32 bit patterns.
#define kQInv127 __int_as_float(0x3C010204)
#define kQInv127Sq __int_as_float(0x38820610)

// One fp16 input value (the same rounding as load_x8<__half>).
__device__ __forceinline__ float load_in1(const GemvIn& in, bool norm, int b, int j, float inv) {
  if (norm) {
    const float g = __half2float(static_cast<const __half*>(in.rms_gamma)[j]);
    return __half2float(__float2half_rn(in.xf[size_t(b) * in.ldx + j] * inv * g));
  }
  return __half2float(static_cast<const __half*>(in.x)[size_t(b) * in.ldx + j]);
}

}  // namespace eco::engine::cuda
