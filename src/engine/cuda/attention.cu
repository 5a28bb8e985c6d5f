// Causal grouped-query attention over the fp16/bf16 KV cache, one kernel for prefill (many
// query tokens, each attending to its own prefix, or to the last `window` positions of it with
// sliding-window attention) and decode (one query per sequence).
//
// A block handles one query token and one kv head, i.e. all G = nh / nkv query heads that
// share it, so each key and value is read once for the group. Inside the block, groups of
// tpk = d / 8 lanes each take one key (16-byte loads), so a warp scores 32 / tpk keys at once
// with log2(tpk) shuffles; every lane group keeps its own online-softmax state (max, sum,
// weighted values) and the groups and warps are merged at the end.
//
// Decode at small batch has too few (token, head) pairs to fill the GPU, so the keys are split
// over `splits` blocks (flash-decoding). Each block writes its partial (max, sum, values); the
// last block to finish (counted with an atomic ticket) merges them and resets the ticket, so
// the launch needs no second kernel and replays in a CUDA graph.
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

constexpr int kAttnWarps = 4;

__device__ __forceinline__ void merge_state(float& m, float& l, float* acc, float m2, float l2,
                                            const float* acc2) {
  const float mn = fmaxf(m, m2);
  const float c1 = mn == -INFINITY ? 0.0f : exp2f(m - mn);
  const float c2 = mn == -INFINITY ? 0.0f : exp2f(m2 - mn);
  l = l * c1 + l2 * c2;
#pragma unroll
  for (int e = 0; e < 8; ++e) acc[e] = acc[e] * c1 + acc2[e] * c2;
  m = mn;
}

// Merges the online-softmax states of a warp's lane groups (same sub, different kg) and leaves
// each warp's merged state (max, sum, weighted values) in sm[warp].
template <int GMAX>
__device__ __forceinline__ void warp_states_to_shared(float (*sm)[GMAX][2 + 256], float* mx,
                                                      float* l, float (*acc)[8], int tpk, int warp,
                                                      int kg, int sub, int dim0, bool dim_ok) {
  for (int o = tpk; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < GMAX; ++g) {
      const float m2 = __shfl_xor_sync(0xffffffffu, mx[g], o);
      const float l2 = __shfl_xor_sync(0xffffffffu, l[g], o);
      float a2[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) a2[e] = __shfl_xor_sync(0xffffffffu, acc[g][e], o);
      merge_state(mx[g], l[g], acc[g], m2, l2, a2);
    }
  }
  if (kg == 0 && dim_ok) {
#pragma unroll
    for (int g = 0; g < GMAX; ++g) {
      if (sub == 0) {
        sm[warp][g][0] = mx[g];
        sm[warp][g][1] = l[g];
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) sm[warp][g][2 + dim0 + e] = acc[g][e];
    }
  }
}

// Merges the warps' states (sm) and writes the block's result: the output when the keys are not
// split, else this split's partial (max, sum, values). Thread t takes (g, dim) pairs.
template <typename T, int GMAX>
__device__ __forceinline__ void finish_block(const AttnArgs& a, float (*sm)[GMAX][2 + 256], int i,
                                             int kvh, int split, int G) {
  const int items = G * a.d;
  for (int t = threadIdx.x; t < items; t += blockDim.x) {
    const int g = t / a.d, dd = t % a.d;
    float m = -INFINITY, ls = 0.0f, o = 0.0f;
    for (int w = 0; w < kAttnWarps; ++w) {
      const float m2 = sm[w][g][0];
      const float mn = fmaxf(m, m2);
      const float c1 = mn == -INFINITY ? 0.0f : exp2f(m - mn);
      const float c2 = mn == -INFINITY ? 0.0f : exp2f(m2 - mn);
      ls = ls * c1 + sm[w][g][1] * c2;
      o = o * c1 + sm[w][g][2 + dd] * c2;
      m = mn;
    }
    const int h = kvh * G + g;
    if (a.splits == 1) {
      static_cast<T*>(a.out)[(size_t(i) * a.nh + h) * a.d + dd] = Ty<T>::from_f(o / ls);
    } else {
      float* p = a.partial + ((size_t(i) * a.nh + h) * a.splits + split) * (a.d + 2);
      if (dd == 0) {
        p[0] = m;
        p[1] = ls;
      }
      p[2 + dd] = o;
    }
  }
}

// Split keys: the last block of the (token, kv head) to finish (atomic ticket) merges the
// partials into the output and resets the ticket for the next launch.
template <typename T>
__device__ __forceinline__ void merge_splits(const AttnArgs& a, int i, int kvh, int G,
                                             bool* is_last) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int ticket = atomicAdd(a.counters + i * a.nkv + kvh, 1);
    *is_last = ticket == a.splits - 1;
  }
  __syncthreads();
  if (!*is_last) return;
  __threadfence();
  const int items = G * a.d;
  for (int t = threadIdx.x; t < items; t += blockDim.x) {
    const int g = t / a.d, dd = t % a.d;
    const int h = kvh * G + g;
    const float* p = a.partial + (size_t(i) * a.nh + h) * a.splits * (a.d + 2);
    float m = -INFINITY;
    for (int s = 0; s < a.splits; ++s) m = fmaxf(m, __ldcg(p + size_t(s) * (a.d + 2)));
    float ls = 0.0f, o = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      const float* ps = p + size_t(s) * (a.d + 2);
      const float ms = __ldcg(ps);
      const float w = ms == -INFINITY ? 0.0f : exp2f(ms - m);
      ls += __ldcg(ps + 1) * w;
      o += __ldcg(ps + 2 + dd) * w;
    }
    static_cast<T*>(a.out)[(size_t(i) * a.nh + h) * a.d + dd] = Ty<T>::from_f(o / ls);
  }
  if (threadIdx.x == 0) a.counters[i * a.nkv + kvh] = 0;  // ready for the next launch
}

template <typename T, int GMAX>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(const AttnArgs a, int tpk) {
  __shared__ float sm[kAttnWarps][GMAX][2 + 256];
  __shared__ bool is_last;
  const int i = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int G = a.nh / a.nkv;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kpw = 32 / tpk, kg = lane / tpk, sub = lane % tpk;
  const int dim0 = sub * 8;
  const bool dim_ok = dim0 < a.d;
  const int seq = a.tok_seq[i], pos = a.tok_pos[i];
  // Keys first .. pos: with a sliding window only the newest `window` positions.
  const int first = a.window > 0 && pos >= a.window ? pos - a.window + 1 : 0;
  const int n = pos + 1 - first;
  const int chunk = (n + a.splits - 1) / a.splits;
  const int begin = first + split * chunk;
  const int end = min(pos + 1, begin + chunk);

  const float qscale = rsqrtf(float(a.d)) * 1.4426950408889634f;  // softmax in base 2
  float q[GMAX][8];
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    float f[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (g < G && dim_ok) {
      const T* qp = static_cast<const T*>(a.q) + (size_t(i) * a.nh + kvh * G + g) * a.d + dim0;
      unpack8<T>(*reinterpret_cast<const uint4*>(qp), f);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) q[g][e] = f[e] * qscale;
  }

  float mx[GMAX], l[GMAX], acc[GMAX][8];
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    mx[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[g][e] = 0.0f;
  }

  const size_t head_base = (size_t(seq) * a.nkv + kvh) * a.ctx * a.d;
  const T* kb = static_cast<const T*>(a.k_cache) + head_base + dim0;
  const T* vb = static_cast<const T*>(a.v_cache) + head_base + dim0;
  for (int jb = begin + warp * kpw; jb < end; jb += kAttnWarps * kpw) {  // warp-uniform
    const int j = jb + kg;
    const bool valid = j < end;
    float kf[8] = {0, 0, 0, 0, 0, 0, 0, 0}, vf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (valid && dim_ok) {
      unpack8<T>(__ldg(reinterpret_cast<const uint4*>(kb + size_t(j) * a.d)), kf);
      unpack8<T>(__ldg(reinterpret_cast<const uint4*>(vb + size_t(j) * a.d)), vf);
    }
#pragma unroll
    for (int g = 0; g < GMAX; ++g) {
      if (g >= G) break;
      float s = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) s += q[g][e] * kf[e];
      for (int o = tpk >> 1; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (valid) {
        const float mn = fmaxf(mx[g], s);
        const float corr = exp2f(mx[g] - mn), p = exp2f(s - mn);
        l[g] = l[g] * corr + p;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = acc[g][e] * corr + p * vf[e];
        mx[g] = mn;
      }
    }
  }

  warp_states_to_shared<GMAX>(sm, mx, l, acc, tpk, warp, kg, sub, dim0, dim_ok);
  __syncthreads();
  finish_block<T, GMAX>(a, sm, i, kvh, split, G);
  if (a.splits > 1) merge_splits<T>(a, i, kvh, G, &is_last);
}

template <typename T, int GMAX>
void launch_g(const AttnArgs& a, int tpk, cudaStream_t s) {
  const dim3 grid(a.m, a.nkv, a.splits);
  attention_kernel<T, GMAX><<<grid, kAttnWarps * 32, 0, s>>>(a, tpk);
}

template <typename T>
void launch_typed(const AttnArgs& a, int tpk, cudaStream_t s) {
  const int G = a.nh / a.nkv;
  if (G <= 1)
    launch_g<T, 1>(a, tpk, s);
  else if (G <= 2)
    launch_g<T, 2>(a, tpk, s);
  else if (G <= 4)
    launch_g<T, 4>(a, tpk, s);
  else
    launch_g<T, 8>(a, tpk, s);
}

}  // namespace

size_t attention_partial_floats(int m, int nh, int d, int splits) {
  return size_t(m) * nh * splits * (d + 2);
}

void launch_attention(DevType t, const AttnArgs& a, cudaStream_t stream, const std::string& step) {
  if (a.m <= 0) return;
  if (a.d % 8 != 0 || a.d > 256 || a.nkv <= 0 || a.nh % a.nkv != 0 || a.nh / a.nkv > 8 ||
      a.splits < 1 || a.splits > 65535 || (a.splits > 1 && (!a.partial || !a.counters)))
    throw_error(cat(step, ": unsupported attention shape (head_dim ", a.d,
                    " must be a multiple of 8 and <= 256; heads ", a.nh, " / kv heads ", a.nkv,
                    " must be an integer <= 8)"));
  int tpk = 1;
  while (tpk * 8 < a.d) tpk *= 2;
  if (t == DevType::F16)
    launch_typed<__half>(a, tpk, stream);
  else
    launch_typed<__nv_bfloat16>(a, tpk, stream);
  ECO_LAUNCH_CHECK(step + cat(" (attention m=", a.m, " heads=", a.nh, "/", a.nkv, " d=", a.d,
                              " splits=", a.splits, ")"));
}

}  // namespace eco::engine::cuda
