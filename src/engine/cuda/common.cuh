#pragma once
// Device-side helpers shared by the kernel files: fp16/bf16 traits, 16-byte loads, reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "engine/cuda/kernels.h"

namespace eco::engine::cuda {

template <typename T>
struct Ty;
template <>
struct Ty<__half> {
  using T2 = __half2;
  static __device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half from_f(float v) { return __float2half_rn(v); }
  static __device__ __forceinline__ float2 to_f2(__half2 v) { return __half22float2(v); }
  static __device__ __forceinline__ __half2 from_f2(float a, float b) {
    return __floats2half2_rn(a, b);
  }
};
template <>
struct Ty<__nv_bfloat16> {
  using T2 = __nv_bfloat162;
  static __device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 from_f(float v) { return __float2bfloat16_rn(v); }
  static __device__ __forceinline__ float2 to_f2(__nv_bfloat162 v) { return __bfloat1622float2(v); }
  static __device__ __forceinline__ __nv_bfloat162 from_f2(float a, float b) {
    return __floats2bfloat162_rn(a, b);
  }
};

// 8 elements of T in one 16-byte word, unpacked to / packed from floats.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& u, float* f) {
  const auto* p = reinterpret_cast<const typename Ty<T>::T2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = Ty<T>::to_f2(p[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}
template <typename T>
__device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 u;
  auto* p = reinterpret_cast<typename Ty<T>::T2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) p[i] = Ty<T>::from_f2(f[2 * i], f[2 * i + 1]);
  return u;
}

// Weights are read exactly once per step: bypass L1 so they do not evict the activations.
__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* scratch32) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch32[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  float t = lane < nw ? scratch32[lane] : 0.0f;
  return warp_sum(t);
}

}  // namespace eco::engine::cuda
