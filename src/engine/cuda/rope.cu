// After the fused q/k/v projection: adds the Qwen2 bias, applies the rotary embedding
// (Hugging Face's rotate_half convention: element i pairs with i + d/2) to q and k at each
// token's position, writes the rotated q for attention and k, v into the KV cache. The
// frequencies come from the host (model/rope.h), so every RoPE variant is the same kernel;
// Qwen3's per-head q/k norms run just before it.
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
  const int table = a.table_index ? *a.table_index : 0;
  const float* inv_freq = a.inv_freq + size_t(table) * half;
  const float scale = a.scaling ? a.scaling[table] : 1.0f;
  // Rotated pairs of q and k heads.
  const int pairs = (a.nh + a.nkv) * half;
  // Blocks along y share a token's work so that a decode step (few tokens) still uses many SMs.
  const int tid = blockIdx.y * blockDim.x + threadIdx.x, nthreads = gridDim.y * blockDim.x;
  for (int p = tid; p < pairs; p += nthreads) {
    const int head = p / half, j = p % half;
    float sn, cs;
    sincosf(float(pos) * inv_freq[j], &sn, &cs);
    sn *= scale;  // transformers multiplies cos and sin by the attention factor
    cs *= scale;
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

// One warp per (token, head): d <= 256 values, at most 8 per lane.
template <typename T>
__global__ void qk_norm_kernel(T* qkv, const T* bias, const T* q_norm, const T* k_norm, float eps,
                               int nh, int nkv, int d) {
  constexpr int kPerLane = 8;
  const int i = blockIdx.x, head = blockIdx.y, lane = threadIdx.x;
  const bool is_v = head >= nh + nkv;
  if (is_v && bias == nullptr) return;
  T* x = qkv + size_t(i) * size_t((nh + 2 * nkv) * d) + size_t(head) * d;
  const T* b = bias ? bias + size_t(head) * d : nullptr;
  float v[kPerLane];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) {
    const int j = lane + 32 * k;
    v[k] = j < d ? Ty<T>::to_f(x[j]) + (b ? Ty<T>::to_f(b[j]) : 0.0f) : 0.0f;
    ss += v[k] * v[k];
  }
  const T* gamma = head < nh ? q_norm : k_norm;
  const float inv = is_v ? 1.0f : rsqrtf(warp_sum(ss) / float(d) + eps);
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) {
    const int j = lane + 32 * k;
    if (j < d) x[j] = Ty<T>::from_f(is_v ? v[k] : v[k] * inv * Ty<T>::to_f(gamma[j]));
  }
}

__global__ void rope_select_kernel(const int* tok_pos, int m, int threshold, int count,
                                   int* index) {
  __shared__ int warp_max[32];
  int mx = 0;
  for (int i = threadIdx.x; i < m; i += blockDim.x) mx = max(mx, tok_pos[i] + 1);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = mx;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x >> 5); ++w) mx = max(mx, warp_max[w]);
    *index = min(max(mx - threshold, 0), count - 1);
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

void launch_rope_select(const int* tok_pos, int m, int threshold, int count, int* index,
                        cudaStream_t stream, const std::string& step) {
  if (m <= 0 || count < 1) throw_error(cat(step, ": rope table selection needs tokens and tables"));
  rope_select_kernel<<<1, 256, 0, stream>>>(tok_pos, m, threshold, count, index);
  ECO_LAUNCH_CHECK(step + cat(" (rope table m=", m, " tables=", count, ")"));
}

void launch_qk_norm(DevType t, void* qkv, const void* bias, const void* q_norm, const void* k_norm,
                    float eps, int m, int nh, int nkv, int d, cudaStream_t stream,
                    const std::string& step) {
  if (m <= 0) return;
  if (d > 256) throw_error(cat(step, ": head_dim ", d, " exceeds 256 for the q/k norm"));
  const dim3 grid(m, nh + 2 * nkv);
  if (t == DevType::F16)
    qk_norm_kernel<__half><<<grid, 32, 0, stream>>>(
        static_cast<__half*>(qkv), static_cast<const __half*>(bias),
        static_cast<const __half*>(q_norm), static_cast<const __half*>(k_norm), eps, nh, nkv, d);
  else
    qk_norm_kernel<__nv_bfloat16><<<grid, 32, 0, stream>>>(
        static_cast<__nv_bfloat16*>(qkv), static_cast<const __nv_bfloat16*>(bias),
        static_cast<const __nv_bfloat16*>(q_norm), static_cast<const __nv_bfloat16*>(k_norm), eps,
        nh, nkv, d);
  ECO_LAUNCH_CHECK(step + cat(" (q/k norm m=", m, " heads=", nh, "/", nkv, " d=", d, ")"));
}

}  // namespace eco::engine::cuda
