// Small element-wise kernels: SwiGLU on GEMM output (the large-batch path; the GEMV path fuses
// it), dtype conversion of uploaded weights, fills.
#include <type_traits>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

template <typename T, typename G>
__global__ void swiglu_kernel(const G* gu, int m, int inter, T* act) {
  const int64_t total = int64_t(m) * inter;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / inter;
    const int i = int(t % inter);
    const G* row = gu + r * 2 * inter;
    const int col = (i / 8) * 16 + i % 8;
    float g, u;
    if constexpr (std::is_same_v<G, float>) {
      g = row[col];
      u = row[col + 8];
    } else {
      g = Ty<T>::to_f(row[col]);
      u = Ty<T>::to_f(row[col + 8]);
    }
    act[t] = Ty<T>::from_f(g / (1.0f + __expf(-g)) * u);
  }
}

template <typename S>
__device__ __forceinline__ float src_f(const S* p, int64_t i);
template <>
__device__ __forceinline__ float src_f<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ __forceinline__ float src_f<__half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
template <>
__device__ __forceinline__ float src_f<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

template <typename S, typename D>
__global__ void convert_rows_kernel(const S* src, int64_t rows, int64_t cols, D* dst, int64_t group,
                                    int64_t group_stride, int64_t offset) {
  const int64_t total = rows * cols;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / cols, c = t % cols;
    const int64_t dr = (r / group) * group_stride + offset + r % group;
    dst[dr * cols + c] = Ty<D>::from_f(src_f<S>(src, t));
  }
}

template <typename D>
void convert_to(SrcType st, const void* src, int64_t rows, int64_t cols, D* dst, int64_t group,
                int64_t stride, int64_t offset, cudaStream_t s) {
  const int64_t total = rows * cols;
  const int blocks = int(std::min<int64_t>((total + 255) / 256, 8192));
  switch (st) {
    case SrcType::F32:
      convert_rows_kernel<float, D><<<blocks, 256, 0, s>>>(static_cast<const float*>(src), rows,
                                                           cols, dst, group, stride, offset);
      break;
    case SrcType::F16:
      convert_rows_kernel<__half, D><<<blocks, 256, 0, s>>>(static_cast<const __half*>(src), rows,
                                                            cols, dst, group, stride, offset);
      break;
    case SrcType::BF16:
      convert_rows_kernel<__nv_bfloat16, D><<<blocks, 256, 0, s>>>(
          static_cast<const __nv_bfloat16*>(src), rows, cols, dst, group, stride, offset);
      break;
  }
}

template <typename T>
__global__ void fill_kernel(T* dst, int64_t n, float v) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x)
    dst[t] = Ty<T>::from_f(v);
}
__global__ void fill_f32_kernel(float* dst, int64_t n, float v) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x)
    dst[t] = v;
}

int grid_for(int64_t n) {
  return int(std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 8192)));
}

}  // namespace

void launch_swiglu_interleaved(DevType t, const void* gu, bool gu_f32, int m, int inter, void* act,
                               cudaStream_t stream, const std::string& step) {
  if (m <= 0) return;
  const int blocks = grid_for(int64_t(m) * inter);
  if (t == DevType::F16) {
    if (gu_f32)
      swiglu_kernel<__half, float><<<blocks, 256, 0, stream>>>(static_cast<const float*>(gu), m,
                                                               inter, static_cast<__half*>(act));
    else
      swiglu_kernel<__half, __half><<<blocks, 256, 0, stream>>>(static_cast<const __half*>(gu), m,
                                                                inter, static_cast<__half*>(act));
  } else {
    if (gu_f32)
      swiglu_kernel<__nv_bfloat16, float><<<blocks, 256, 0, stream>>>(
          static_cast<const float*>(gu), m, inter, static_cast<__nv_bfloat16*>(act));
    else
      swiglu_kernel<__nv_bfloat16, __nv_bfloat16><<<blocks, 256, 0, stream>>>(
          static_cast<const __nv_bfloat16*>(gu), m, inter, static_cast<__nv_bfloat16*>(act));
  }
  ECO_LAUNCH_CHECK(step + cat(" (swiglu m=", m, " intermediate=", inter, ")"));
}

void launch_convert_rows(SrcType src_t, const void* src, int64_t rows, int64_t cols, DevType dst_t,
                         void* dst, int64_t group, int64_t group_stride, int64_t offset,
                         cudaStream_t stream, const std::string& step) {
  if (rows <= 0 || cols <= 0) return;
  if (dst_t == DevType::F16)
    convert_to<__half>(src_t, src, rows, cols, static_cast<__half*>(dst), group, group_stride,
                       offset, stream);
  else
    convert_to<__nv_bfloat16>(src_t, src, rows, cols, static_cast<__nv_bfloat16*>(dst), group,
                              group_stride, offset, stream);
  ECO_LAUNCH_CHECK(step + cat(" (convert ", rows, "x", cols, ")"));
}

void launch_fill(DevType t, void* dst, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  if (t == DevType::F16)
    fill_kernel<__half><<<grid_for(n), 256, 0, stream>>>(static_cast<__half*>(dst), n, value);
  else
    fill_kernel<__nv_bfloat16>
        <<<grid_for(n), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(dst), n, value);
  ECO_LAUNCH_CHECK(cat("fill (", n, " elements)"));
}

void launch_fill_f32(float* dst, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  fill_f32_kernel<<<grid_for(n), 256, 0, stream>>>(dst, n, value);
  ECO_LAUNCH_CHECK(cat("fill (", n, " floats)"));
}

}  // namespace eco::engine::cuda
