// Greedy token choice on the device, so that decode_greedy never waits for the host: each row's
// argmax feeds the next step's embedding directly, is appended to the on-device token history,
// and the sequence position advances, all inside the captured decode graph.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

__device__ __forceinline__ void better(float& bv, int& bi, float v, int i) {
  // Larger value wins; ties go to the lower id; NaN never wins.
  if (v > bv || (v == bv && i < bi)) {
    bv = v;
    bi = i;
  }
}

__global__ void argmax_kernel(const float* logits, int m, int vocab, int* next, int* hist,
                              int hist_steps, const int* hist_base, int* pos, bool advance) {
  __shared__ float sv[32];
  __shared__ int si[32];
  const int r = blockIdx.x;
  const float* row = logits + size_t(r) * vocab;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) better(bv, bi, row[j], j);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(0xffffffffu, bv, o);
    const int i2 = __shfl_xor_sync(0xffffffffu, bi, o);
    better(bv, bi, v2, i2);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  if (warp != 0) return;
  const int nw = blockDim.x >> 5;
  bv = lane < nw ? sv[lane] : -INFINITY;
  bi = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(0xffffffffu, bv, o);
    const int i2 = __shfl_xor_sync(0xffffffffu, bi, o);
    better(bv, bi, v2, i2);
  }
  if (lane != 0) return;
  if (bi == 0x7fffffff) bi = 0;  // a row of NaN/-inf: token 0 rather than an invalid id
  next[r] = bi;
  if (hist != nullptr) {
    const int s = pos[r] - hist_base[r] + 1;
    if (s >= 0 && s < hist_steps) hist[size_t(s) * m + r] = bi;
  }
  if (advance) pos[r] += 1;
}

}  // namespace

void launch_argmax(const float* logits, int m, int vocab, int* next, int* hist, int hist_steps,
                   const int* hist_base, int* pos, bool advance, cudaStream_t stream,
                   const std::string& step) {
  if (m <= 0) return;
  argmax_kernel<<<m, 1024, 0, stream>>>(logits, m, vocab, next, hist, hist_steps, hist_base, pos,
                                        advance);
  ECO_LAUNCH_CHECK(step + cat(" (argmax m=", m, " vocab=", vocab, ")"));
}

}  // namespace eco::engine::cuda
