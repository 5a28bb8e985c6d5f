// Token embedding: gathers rows of the (fp16/bf16) table into the fp32 residual stream. On the
// GEMV path it also starts the step's RMSNorm bookkeeping: the sum of squares of the embedded
// row (input of layer 0's attention norm) and zeroed accumulators for the later norms.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

template <typename T>
__global__ void embedding_kernel(const T* table, int vocab, int h, const int* tokens, float* resid,
                                 float* sumsq, int slots, int ld) {
  __shared__ float scratch[32];
  const int i = blockIdx.x;
  int tok = tokens[i];
  tok = tok < 0 ? 0 : (tok >= vocab ? vocab - 1 : tok);  // host validates; never read outside
  const T* src = table + size_t(tok) * h;
  float* dst = resid + size_t(i) * h;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < h; j += blockDim.x) {
    const float v = Ty<T>::to_f(src[j]);
    dst[j] = v;
    ss += v * v;
  }
  if (sumsq == nullptr) return;
  const float total = block_sum(ss, scratch);
  if (threadIdx.x == 0) sumsq[i] = total;
  for (int s = 1 + threadIdx.x; s < slots; s += blockDim.x) sumsq[size_t(s) * ld + i] = 0.0f;
}

}  // namespace

void launch_embedding(DevType t, const void* table, int vocab, int h, const int* tokens, int m,
                      float* resid, float* sumsq, int sumsq_slots, int sumsq_ld,
                      cudaStream_t stream, const std::string& step) {
  if (m <= 0) return;
  const int threads = h >= 512 ? 512 : ((h + 31) / 32) * 32;
  if (t == DevType::F16)
    embedding_kernel<__half><<<m, threads, 0, stream>>>(
        static_cast<const __half*>(table), vocab, h, tokens, resid, sumsq, sumsq_slots, sumsq_ld);
  else
    embedding_kernel<__nv_bfloat16>
        <<<m, threads, 0, stream>>>(static_cast<const __nv_bfloat16*>(table), vocab, h, tokens,
                                    resid, sumsq, sumsq_slots, sumsq_ld);
  ECO_LAUNCH_CHECK(step + cat(" (embedding m=", m, " h=", h, ")"));
}

}  // namespace eco::engine::cuda
