// o_proj's bias (attention_bias): added to the fp32 residual rows before the o_proj matmul
// accumulates into them, so the GEMV epilogue's sum of squares (the next fused RMSNorm) and the
// GEMM's beta = 1 accumulation both see residual + bias + W x, as transformers computes it.
#include <algorithm>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

template <typename T>
__global__ void add_bias_rows_kernel(float* y, int ldy, const T* bias, int m, int n) {
  const int64_t total = int64_t(m) * n;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / n, col = i % n;
    y[row * ldy + col] += Ty<T>::to_f(bias[col]);
  }
}

}  // namespace

void launch_add_bias_rows(DevType t, float* y, int ldy, const void* bias, int m, int n,
                          cudaStream_t stream, const std::string& step) {
  if (m <= 0 || n <= 0) return;
  const int64_t total = int64_t(m) * n;
  const int blocks = int(std::min<int64_t>((total + 255) / 256, 4096));
  if (t == DevType::F16)
    add_bias_rows_kernel<__half>
        <<<blocks, 256, 0, stream>>>(y, ldy, static_cast<const __half*>(bias), m, n);
  else
    add_bias_rows_kernel<__nv_bfloat16>
        <<<blocks, 256, 0, stream>>>(y, ldy, static_cast<const __nv_bfloat16*>(bias), m, n);
  ECO_LAUNCH_CHECK(step + cat(" (bias m=", m, " n=", n, ")"));
}

}  // namespace eco::engine::cuda
