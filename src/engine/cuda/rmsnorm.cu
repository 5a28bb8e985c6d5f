// RMSNorm of fp32 residual rows into T rows (the input of a cuBLAS GEMM, or of the lm_head for
// the last token of each prompt). The GEMV path fuses the norm into its input loads instead.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

template <typename T>
__global__ void rmsnorm_kernel(const float* x, int ldx, const int* rows, int h, const T* gamma,
                               float eps, T* out) {
  __shared__ float scratch[32];
  const int i = blockIdx.x;
  const float* xr = x + size_t(rows ? rows[i] : i) * ldx;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < h; j += blockDim.x) ss += xr[j] * xr[j];
  const float inv = rsqrtf(block_sum(ss, scratch) / float(h) + eps);
  T* o = out + size_t(i) * h;
  for (int j = threadIdx.x; j < h; j += blockDim.x)
    o[j] = Ty<T>::from_f(xr[j] * inv * Ty<T>::to_f(gamma[j]));
}

}  // namespace

void launch_rmsnorm(DevType t, const float* x, int ldx, const int* rows, int m, int h,
                    const void* gamma, float eps, void* out, cudaStream_t stream,
                    const std::string& step) {
  if (m <= 0) return;
  const int threads = h >= 1024 ? 1024 : ((h + 31) / 32) * 32;
  if (t == DevType::F16)
    rmsnorm_kernel<__half><<<m, threads, 0, stream>>>(
        x, ldx, rows, h, static_cast<const __half*>(gamma), eps, static_cast<__half*>(out));
  else
    rmsnorm_kernel<__nv_bfloat16>
        <<<m, threads, 0, stream>>>(x, ldx, rows, h, static_cast<const __nv_bfloat16*>(gamma), eps,
                                    static_cast<__nv_bfloat16*>(out));
  ECO_LAUNCH_CHECK(step + cat(" (rmsnorm m=", m, " h=", h, ")"));
}

}  // namespace eco::engine::cuda
