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
//
// The split count is fixed when a decode step is captured, so it is sized for the longest
// context; a token with fewer keys divides them into whole rounds of the block (every lane
// group of every warp one key; launch_plan.h) and only that many splits do work, the others
// exit at once. With one round or less the single active block writes the output itself. The
// merge reads each split's (max, sum) once per head into shared weights and then the values
// with independent 16-byte loads, so its cost is a few memory latencies whatever the split
// count (it was a chain of dependent loads per output element).
#include <cmath>

#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/launch_plan.h"

namespace eco::engine::cuda {
namespace {

// Split partials: the values of every (token, head, split) first, then their (max, sum) pairs.
__device__ __forceinline__ float* split_values(const AttnArgs& a, int i, int h, int split) {
  return a.partial + ((size_t(i) * a.nh + h) * a.splits + split) * a.d;
}
__device__ __forceinline__ float* split_stats(const AttnArgs& a, int i, int h, int split) {
  return a.partial + size_t(a.m) * a.nh * a.splits * a.d +
         ((size_t(i) * a.nh + h) * a.splits + split) * 2;
}

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

// Merges the warps' states (sm) and writes the block's result: the output when it is the only
// active split, else this split's partial (max, sum, values). Thread t takes (g, dim) pairs.
template <typename T, int GMAX>
__device__ __forceinline__ void finish_block(const AttnArgs& a, float (*sm)[GMAX][2 + 256], int i,
                                             int kvh, int split, int G, bool alone) {
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
    if (alone) {
      static_cast<T*>(a.out)[(size_t(i) * a.nh + h) * a.d + dd] = Ty<T>::from_f(o / ls);
    } else {
      if (dd == 0) {
        float* st = split_stats(a, i, h, split);
        st[0] = m;
        st[1] = ls;
      }
      split_values(a, i, h, split)[dd] = o;
    }
  }
}

// Split keys: the last of the `active` blocks of the (token, kv head) to finish (atomic ticket)
// merges the partials into the output and resets the ticket for the next launch. First each
// warp takes query heads g = warp, warp + kAttnWarps, ..., its lanes the splits: split s with
// (max m_s, sum l_s) gets the weight e_s / (sum over splits of l_s e_s), e_s = exp2(m_s - max
// m), kept in shared memory (w); then each thread adds 4 output dims over the splits with
// independent 16-byte loads.
template <typename T>
__device__ __forceinline__ void merge_splits(const AttnArgs& a, int i, int kvh, int G, int active,
                                             float (*w)[kAttnMaxSplits], bool* is_last) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int ticket = atomicAdd(a.counters + i * a.nkv + kvh, 1);
    *is_last = ticket == active - 1;
  }
  __syncthreads();
  if (!*is_last) return;
  __threadfence();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int g = warp; g < G; g += kAttnWarps) {
    float ms[kAttnMaxSplits / 32], ls[kAttnMaxSplits / 32];
    float mx = -INFINITY;
#pragma unroll
    for (int r = 0; r < kAttnMaxSplits / 32; ++r) {
      const int sp = lane + 32 * r;
      ms[r] = -INFINITY;
      ls[r] = 0.0f;
      if (sp < active) {
        const float2 st =
            __ldcg(reinterpret_cast<const float2*>(split_stats(a, i, kvh * G + g, sp)));
        ms[r] = st.x;
        ls[r] = st.y;
      }
      mx = fmaxf(mx, ms[r]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < kAttnMaxSplits / 32; ++r) {
      ms[r] = ms[r] == -INFINITY ? 0.0f : exp2f(ms[r] - mx);  // now the split's scale
      sum += ls[r] * ms[r];
    }
    sum = warp_sum(sum);
#pragma unroll
    for (int r = 0; r < kAttnMaxSplits / 32; ++r)
      if (lane + 32 * r < active) w[g][lane + 32 * r] = ms[r] / sum;
  }
  __syncthreads();
  const int quads = G * a.d / 4;
  for (int q = threadIdx.x; q < quads; q += blockDim.x) {
    const int g = q * 4 / a.d, dd = q * 4 % a.d;
    const int h = kvh * G + g;
    const float* v0 = split_values(a, i, h, 0) + dd;
    float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    // Unrolled by 8: eight independent 16-byte loads in flight per thread, so up to 32 splits
    // cost four memory latencies.
#pragma unroll 8
    for (int sp = 0; sp < active; ++sp) {
      const float4 v = __ldcg(reinterpret_cast<const float4*>(v0 + size_t(sp) * a.d));
      const float ws = w[g][sp];
      o.x += ws * v.x;
      o.y += ws * v.y;
      o.z += ws * v.z;
      o.w += ws * v.w;
    }
    T* out = static_cast<T*>(a.out) + (size_t(i) * a.nh + h) * a.d + dd;
    out[0] = Ty<T>::from_f(o.x);
    out[1] = Ty<T>::from_f(o.y);
    out[2] = Ty<T>::from_f(o.z);
    out[3] = Ty<T>::from_f(o.w);
  }
  if (threadIdx.x == 0) a.counters[i * a.nkv + kvh] = 0;  // ready for the next launch
}

// This lane's 8 dims (dim0..) of the G query heads sharing kv head kvh, scaled by 1/sqrt(d) and
// log2(e) (the softmax runs in base 2).
template <typename T, int GMAX>
__device__ __forceinline__ void load_queries(const AttnArgs& a, int i, int kvh, int G, int dim0,
                                             bool dim_ok, float (&q)[GMAX][8]) {
  const float qscale = rsqrtf(float(a.d)) * 1.4426950408889634f;
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
}

template <typename T, int GMAX>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(const AttnArgs a, int tpk) {
  __shared__ float sm[kAttnWarps][GMAX][2 + 256];
  __shared__ float split_w[GMAX][kAttnMaxSplits];
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
  // Whole rounds of keys per split; the splits past the keys have nothing to do (no ticket).
  const int chunk = attention_split_chunk(n, a.splits, a.d);
  const int active = attention_active_splits(n, a.splits, a.d);
  if (split >= active) return;
  const int begin = first + split * chunk;
  const int end = min(pos + 1, begin + chunk);

  float q[GMAX][8];
  load_queries<T, GMAX>(a, i, kvh, G, dim0, dim_ok, q);

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
  // Each round's key and value are loaded one round ahead (zeros past the end).
  const int step = kAttnWarps * kpw;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  const int j0 = begin + warp * kpw + kg;
  uint4 kr = zero, vr = zero;
  if (j0 < end && dim_ok) {
    kr = __ldg(reinterpret_cast<const uint4*>(kb + size_t(j0) * a.d));
    vr = __ldg(reinterpret_cast<const uint4*>(vb + size_t(j0) * a.d));
  }
  for (int jb = begin + warp * kpw; jb < end; jb += step) {  // warp-uniform
    const int j = jb + kg;
    const bool valid = j < end;
    uint4 kn = zero, vn = zero;
    if (j + step < end && dim_ok) {
      kn = __ldg(reinterpret_cast<const uint4*>(kb + size_t(j + step) * a.d));
      vn = __ldg(reinterpret_cast<const uint4*>(vb + size_t(j + step) * a.d));
    }
    float kf[8], vf[8];
    unpack8<T>(kr, kf);
    unpack8<T>(vr, vf);
    kr = kn;
    vr = vn;
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
  finish_block<T, GMAX>(a, sm, i, kvh, split, G, active == 1);
  if (active > 1) merge_splits<T>(a, i, kvh, G, active, split_w, &is_last);
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
  return size_t(m) * nh * splits * (d + 2);  // values, then (max, sum) pairs
}

void launch_attention(DevType t, const AttnArgs& a, cudaStream_t stream, const std::string& step) {
  if (a.m <= 0) return;
  if (a.d % 8 != 0 || a.d > 256 || a.nkv <= 0 || a.nh % a.nkv != 0 || a.nh / a.nkv > 8 ||
      a.splits < 1 || a.splits > kAttnMaxSplits || (a.splits > 1 && (!a.partial || !a.counters)))
    throw_error(cat(step, ": unsupported attention shape (head_dim ", a.d,
                    " must be a multiple of 8 and <= 256; heads ", a.nh, " / kv heads ", a.nkv,
                    " must be an integer <= 8; splits ", a.splits, " must be 1..", kAttnMaxSplits,
                    ", with partials and counters when > 1)"));
  const int tpk = attention_lanes_per_key(a.d);
  if (t == DevType::F16)
    launch_typed<__half>(a, tpk, stream);
  else
    launch_typed<__nv_bfloat16>(a, tpk, stream);
  ECO_LAUNCH_CHECK(step + cat(" (attention m=", a.m, " heads=", a.nh, "/", a.nkv, " d=", a.d,
                              " splits=", a.splits, ")"));
}

}  // namespace eco::engine::cuda
