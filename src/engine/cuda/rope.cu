// After the fused q/k/v projection: adds the Qwen2 bias, applies the rotary embedding
// (Hugging Face's rotate_half convention: element i pairs with i + d/2) to q and k at each
// token's position, writes the rotated q for attention and k, v into the KV cache.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

template <typename T>
__global__ void rope_kv_kernel(const RopeArgs a) {
  const int i = blockIdx.x;
  const int seq = a.tok_seq[i], pos = a.tok_pos[i];
  const int half = a.d / 2;
  const int width = (a.nh + 2 * a.nkv) * a.d;
  const T* row = static_cast<const T*>(a.qkv) + size_t(i) * width;
  const T* bias = static_cast<const T*>(a.bias);
  auto val = [&](int c) { return Ty<T>::to_f(row[c]) + (bias ? Ty<T>::to_f(bias[c]) : 0.0f); };
  const size_t cache_base = (size_t(seq) * a.nkv) * a.ctx * a.d;
  T* kc = static_cast<T*>(a.k_cache);
  T* vc = static_cast<T*>(a.v_cache);
  T* q_out = static_cast<T*>(a.q_out) + size_t(i) * a.nh * a.d;
  // Rotated pairs of q and k heads.
  const int pairs = (a.nh + a.nkv) * half;
  // Blocks along y share a token's work so that a decode step (few tokens) still uses many SMs.
  const int tid = blockIdx.y * blockDim.x + threadIdx.x, nthreads = gridDim.y * blockDim.x;
  for (int p = tid; p < pairs; p += nthreads) {
    const int head = p / half, j = p % half;
    float sn, cs;
    sincosf(float(pos) * a.inv_freq[j], &sn, &cs);
    const int c0 = head * a.d + j, c1 = c0 + half;
    const float x0 = val(c0), x1 = val(c1);
    const float r0 = x0 * cs - x1 * sn, r1 = x1 * cs + x0 * sn;
    if (head < a.nh) {
      q_out[c0] = Ty<T>::from_f(r0);
      q_out[c1] = Ty<T>::from_f(r1);
    } else {
      const int kh = head - a.nh;
      T* dst = kc + cache_base + (size_t(kh) * a.ctx + pos) * a.d;
      dst[j] = Ty<T>::from_f(r0);
      dst[j + half] = Ty<T>::from_f(r1);
    }
  }
  const int vbase = (a.nh + a.nkv) * a.d;
  for (int c = tid; c < a.nkv * a.d; c += nthreads) {
    const int vh = c / a.d, j = c % a.d;
    vc[cache_base + (size_t(vh) * a.ctx + pos) * a.d + j] = Ty<T>::from_f(val(vbase + c));
  }
}

}  // namespace

void launch_rope_kv(DevType t, const RopeArgs& a, cudaStream_t stream, const std::string& step) {
  if (a.m <= 0) return;
  if (a.d % 2 != 0)
    throw_error(cat(step, ": head_dim ", a.d, " must be even for the rotary embedding"));
  const int threads = 128;
  const int work = (a.nh + a.nkv) * (a.d / 2);
  const dim3 grid(a.m, a.m >= 64 ? 1 : (work + threads - 1) / threads);
  if (t == DevType::F16)
    rope_kv_kernel<__half><<<grid, threads, 0, stream>>>(a);
  else
    rope_kv_kernel<__nv_bfloat16><<<grid, threads, 0, stream>>>(a);
  ECO_LAUNCH_CHECK(step + cat(" (rope m=", a.m, " heads=", a.nh, "/", a.nkv, " d=", a.d, ")"));
}

}  // namespace eco::engine::cuda
