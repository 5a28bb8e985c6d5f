#pragma once
// The one skeleton of the small-batch matmuls (gemv.cu: fp16/bf16, int8_gemv.cu: LLM.int8(),
// nf4_gemv.cu: NF4 / NF4-DQ), in the manner of calm's single warp-parallel matmul with a
// dequantizer per format:
//
// - the tile: one block per 16 weight rows; lane (g, c) of the mma fragment layout holds weight
//   rows g and g + 8 and batch row g of each n-tile of 8 batch rows, at the k slice picked by c;
//   the block's 8 warps take every 8th k-block of the row pair;
// - the k loop (gemv_k_loop): each warp keeps kUnroll k-blocks of weights in flight, loaded
//   either before the previous round's products (kPrefetch) or after them; a format supplies
//   only a policy that loads one k-block (load), turns it into mma operands (expand: the
//   dequantization) and multiplies it with one n-tile of the batch (mma);
// - the tensor-core mma wrappers, the input loader (T rows, or the fp32 residual normalised on
//   the fly), the reduction over the warps and the epilogue store in each output mode;
// - the launch switch over n-tiles (batch 1..8, ..16, ..32, ..64) and output modes.
//
// A dot product does not care about the order of k, so a format may permute k as long as it
// does so identically for weights and activations (each format's file says how).
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {

constexpr int kGemvWarps = 8;
constexpr int kGemvThreads = kGemvWarps * 32;

// This thread's place in its block's tile of 16 weight rows.
struct GemvTile {
  int warp, lane, g, c, tile, row0, row1;
  bool ok0, ok1;  // row0 / row1 < n
  __device__ __forceinline__ explicit GemvTile(int n)
      : warp(int(threadIdx.x) >> 5),
        lane(int(threadIdx.x) & 31),
        g(lane >> 2),
        c(lane & 3),
        tile(int(blockIdx.x)),
        row0(tile * 16 + g),
        row1(row0 + 8),
        ok0(row0 < n),
        ok1(row1 < n) {}
};

// ---- tensor-core products --------------------------------------------------------------------
// acc (4 fp32) += A (16 x 16, rows g / g + 8: a0..a3) . B (16 x 8, column g: b0, b1).
template <typename T>
__device__ __forceinline__ void mma_m16n8k16(float* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                             uint32_t a3, uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_m16n8k16<__half>(float* acc, uint32_t a0, uint32_t a1,
                                                     uint32_t a2, uint32_t a3, uint32_t b0,
                                                     uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_m16n8k16<__nv_bfloat16>(float* acc, uint32_t a0, uint32_t a1,
                                                            uint32_t a2, uint32_t a3, uint32_t b0,
                                                            uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
// int8 x int8 -> int32, k = 32.
__device__ __forceinline__ void mma_m16n8k32_s8(int* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                                uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// ---- input rows ------------------------------------------------------------------------------
// 1 / sqrt(mean square + eps) of input row b (only with rms_gamma set).
__device__ __forceinline__ float row_inv_rms(const GemvIn& in, int b, int k) {
  return rsqrtf(in.sumsq_in[b] / float(k) + in.eps);
}

// 8 input values of row b at columns kk..kk+7 (kk % 8 == 0) as one 16-byte word of T: the T row
// itself, or (norm) the residual times inv (row_inv_rms) times gamma, rounded to T.
template <typename T>
__device__ __forceinline__ uint4 load_x8(const GemvIn& in, bool norm, int b, int kk, float inv) {
  if (norm) {
    const float* xr = in.xf + size_t(b) * in.ldx + kk;
    const float4 f0 = __ldg(reinterpret_cast<const float4*>(xr));
    const float4 f1 = __ldg(reinterpret_cast<const float4*>(xr + 4));
    float gm[8];
    unpack8<T>(__ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(in.rms_gamma) + kk)), gm);
    float f[8] = {f0.x, f0.y, f0.z, f0.w, f1.x, f1.y, f1.z, f1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = f[i] * inv * gm[i];
    return pack8<T>(f);
  }
  return __ldg(
      reinterpret_cast<const uint4*>(static_cast<const T*>(in.x) + size_t(b) * in.ldx + kk));
}

// ---- the k loop ------------------------------------------------------------------------------
// A format's policy F provides:
//   F::kUnroll, F::kPrefetch      k-blocks in flight per warp and round; load the next round
//                                 before (true) or after (false) this round's products
//   F::kSkipPastEnd               skip the products of k-blocks past the end (true), or run
//                                 them on the zeros load() gave (false: straight-line code,
//                                 fewer registers when mma() reads nothing past the end)
//   F::Acc                        accumulator element (float or int)
//   F::Frag                       one k-block of the two weight rows as loaded
//   int k_blocks() const
//   Frag load(int kb) const       kb may lie beyond k_blocks(): then zeros, no memory access
//   void inputs_ready() const     called once after the first round is in flight (a dependent
//                                 launch waits here for its producer)
//   Operand expand(const Frag&) const            the weights as mma operands (dequantization)
//   void mma(Acc* acc4, const Operand&, int kb, int t) const   acc += weights . batch n-tile t
template <int NT, class F>
__device__ __forceinline__ void gemv_k_loop(const F& f, int warp, typename F::Acc (&acc)[NT][4]) {
  constexpr int U = F::kUnroll;
  constexpr int kStep = kGemvWarps * U;
  const int nkb = f.k_blocks();
  typename F::Frag cur[U];
#pragma unroll
  for (int u = 0; u < U; ++u) cur[u] = f.load(warp + u * kGemvWarps);
  f.inputs_ready();
  for (int kb0 = warp; kb0 < nkb; kb0 += kStep) {
    typename F::Frag next[U];
    if constexpr (F::kPrefetch) {
#pragma unroll
      for (int u = 0; u < U; ++u) next[u] = f.load(kb0 + kStep + u * kGemvWarps);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kb = kb0 + u * kGemvWarps;
      if (F::kSkipPastEnd && kb >= nkb) break;
      const auto w = f.expand(cur[u]);
#pragma unroll
      for (int t = 0; t < NT; ++t) f.mma(acc[t], w, kb, t);
    }
    if constexpr (!F::kPrefetch) {
#pragma unroll
      for (int u = 0; u < U; ++u) next[u] = f.load(kb0 + kStep + u * kGemvWarps);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) cur[u] = next[u];
  }
}

// Sums acc over the block's warps in warp order into warp 0's acc (the others keep theirs).
// red: shared memory of kGemvWarps * NT * 4 * 32 elements, free on entry (the caller syncs
// before reusing it).
template <int NT, typename A>
__device__ __forceinline__ void sum_over_warps(A (&acc)[NT][4], A* red, const GemvTile& tl) {
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[((tl.warp * NT + t) * 4 + i) * 32 + tl.lane] = acc[t][i];
  __syncthreads();
  if (tl.warp != 0) return;
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      A s = 0;
#pragma unroll
      for (int w = 0; w < kGemvWarps; ++w) s += red[((w * NT + t) * 4 + i) * 32 + tl.lane];
      acc[t][i] = s;
    }
}

// ---- the epilogue ----------------------------------------------------------------------------
// Stores n-tile t of warp 0's results: v = {(row0, b0), (row0, b1), (row1, b0), (row1, b1)} with
// b0 = 8t + 2c, b1 = b0 + 1. Called by all 32 lanes of warp 0 (AddResidual reduces the sums of
// squares over the warp).
template <typename T, GemvOut kOut>
__device__ __forceinline__ void store_tile(const GemvDst& o, int m, const GemvTile& tl, int t,
                                           const float* v) {
  const int row0 = tl.row0, row1 = tl.row1;
  const bool ok0 = tl.ok0, ok1 = tl.ok1;
  const int b0 = 8 * t + 2 * tl.c, b1 = b0 + 1;
  const bool in0 = b0 < m, in1 = b1 < m;
  if constexpr (kOut == GemvOut::StoreT) {
    T* y = static_cast<T*>(o.y);
    if (in0 && ok0) y[size_t(b0) * o.ldy + row0] = Ty<T>::from_f(v[0]);
    if (in1 && ok0) y[size_t(b1) * o.ldy + row0] = Ty<T>::from_f(v[1]);
    if (in0 && ok1) y[size_t(b0) * o.ldy + row1] = Ty<T>::from_f(v[2]);
    if (in1 && ok1) y[size_t(b1) * o.ldy + row1] = Ty<T>::from_f(v[3]);
  } else if constexpr (kOut == GemvOut::StoreF32) {
    float* y = static_cast<float*>(o.y);
    if (in0 && ok0) y[size_t(b0) * o.ldy + row0] = v[0];
    if (in1 && ok0) y[size_t(b1) * o.ldy + row0] = v[1];
    if (in0 && ok1) y[size_t(b0) * o.ldy + row1] = v[2];
    if (in1 && ok1) y[size_t(b1) * o.ldy + row1] = v[3];
  } else if constexpr (kOut == GemvOut::AddResidual) {
    float* y = static_cast<float*>(o.y);
    float sq0 = 0.0f, sq1 = 0.0f;
    auto add = [&](int b, int row, float x, float& sq) {
      const float r = y[size_t(b) * o.ldy + row] + x;
      y[size_t(b) * o.ldy + row] = r;
      sq += r * r;
    };
    if (in0 && ok0) add(b0, row0, v[0], sq0);
    if (in1 && ok0) add(b1, row0, v[1], sq1);
    if (in0 && ok1) add(b0, row1, v[2], sq0);
    if (in1 && ok1) add(b1, row1, v[3], sq1);
    if (o.sumsq_out != nullptr) {
#pragma unroll
      for (int s = 4; s < 32; s <<= 1) {  // sum over g (lanes with the same c)
        sq0 += __shfl_xor_sync(0xffffffffu, sq0, s);
        sq1 += __shfl_xor_sync(0xffffffffu, sq1, s);
      }
      if (tl.g == 0) {
        if (in0) atomicAdd(o.sumsq_out + b0, sq0);
        if (in1) atomicAdd(o.sumsq_out + b1, sq1);
      }
    }
  } else {  // SwiGLU on gate/up rows interleaved by 8: rows 0..7 of the tile gate, 8..15 up
    T* y = static_cast<T*>(o.y);
    const int i = tl.tile * 8 + tl.g;
    if (ok1) {
      if (in0) y[size_t(b0) * o.ldy + i] = Ty<T>::from_f(v[0] / (1.0f + __expf(-v[0])) * v[2]);
      if (in1) y[size_t(b1) * o.ldy + i] = Ty<T>::from_f(v[1] / (1.0f + __expf(-v[1])) * v[3]);
    }
  }
}

// ---- the launch switch -----------------------------------------------------------------------
// n-tiles of 8 batch rows a launch for m rows uses: 1, 2, 4 or 8.
inline int gemv_batch_tiles(int m) {
  return m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
}

template <int NT, class Launch>
void gemv_dispatch_out(GemvOut kind, const Launch& l) {
  switch (kind) {
    case GemvOut::StoreT:
      l.template run<NT, GemvOut::StoreT>();
      break;
    case GemvOut::StoreF32:
      l.template run<NT, GemvOut::StoreF32>();
      break;
    case GemvOut::AddResidual:
      l.template run<NT, GemvOut::AddResidual>();
      break;
    case GemvOut::SwiGLU:
      l.template run<NT, GemvOut::SwiGLU>();
      break;
  }
}

// Calls l.run<NT, kOut>() for the n-tiles m rows need (at most kMaxNT: the caller checked m)
// and the output mode; grid: gemv_grid(n).
template <int kMaxNT, class Launch>
void gemv_dispatch(int m, GemvOut kind, const Launch& l) {
  switch (gemv_batch_tiles(m)) {
    case 1:
      gemv_dispatch_out<1>(kind, l);
      break;
    case 2:
      if constexpr (kMaxNT >= 2) gemv_dispatch_out<2>(kind, l);
      break;
    case 4:
      if constexpr (kMaxNT >= 4) gemv_dispatch_out<4>(kind, l);
      break;
    default:
      if constexpr (kMaxNT >= 8) gemv_dispatch_out<8>(kind, l);
      break;
  }
}

inline dim3 gemv_grid(int n) {
  return dim3(unsigned((n + 15) / 16));
}

}  // namespace eco::engine::cuda
