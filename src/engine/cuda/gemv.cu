// Small-batch matrix-vector products on the tensor cores: y[m, n] = W[n, :] . x[m, :], m <= 16.
//
// Decode at batch 1..16 is bound by reading the weights once per step, so the kernel is built
// around the weight stream: each thread issues 16-byte loads of two weight rows, U k-blocks
// ahead of their use, and one mma.m16n8k16 consumes a 16-row x 16-k weight tile against the
// whole batch (the batch is the mma's n = 8 dimension, two n-tiles for m <= 16). Arithmetic is
// then a few instructions per 32 bytes of weights whatever the batch, so batch 8 costs what
// batch 1 costs.
//
// The mma fragment layout wants each thread to hold k = {2c, 2c+1, 2c+8, 2c+9} of a row; a
// dot product does not care about the order of k, so the kernel permutes k consistently for
// weights and activations: thread (g, c) holds physical k = 32 kb + 8 c + 0..7 of rows g and
// g + 8 and of batch row g, i.e. one 16-byte load each, and feeds words 0,1 to the first mma
// and words 2,3 to the second.
//
// Grid: one block per 16 output rows; the block's 8 warps split k and reduce through shared
// memory, warp 0 runs the epilogue (store, residual add with the next RMSNorm's sum of
// squares, or SwiGLU on interleaved gate/up rows).
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 4;  // k-blocks of weights in flight per thread (2 rows x 16 B each)

template <typename T>
__device__ __forceinline__ void mma16816(float* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float* acc, uint32_t a0, uint32_t a1, uint32_t a2,
                                                 uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float* acc, uint32_t a0, uint32_t a1,
                                                        uint32_t a2, uint32_t a3, uint32_t b0,
                                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <typename T, bool kNorm>
__device__ __forceinline__ uint4 load_x(const GemvArgs& a, int b, int kk, float inv) {
  if constexpr (kNorm) {
    const float* xr = a.xf + size_t(b) * a.ldx + kk;
    const float4 f0 = __ldg(reinterpret_cast<const float4*>(xr));
    const float4 f1 = __ldg(reinterpret_cast<const float4*>(xr + 4));
    float gm[8];
    unpack8<T>(__ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(a.rms_gamma) + kk)), gm);
    float f[8] = {f0.x, f0.y, f0.z, f0.w, f1.x, f1.y, f1.z, f1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = f[i] * inv * gm[i];
    return pack8<T>(f);
  } else {
    return __ldg(
        reinterpret_cast<const uint4*>(static_cast<const T*>(a.x) + size_t(b) * a.ldx + kk));
  }
}

template <typename T, int NT, bool kNorm, GemvOut kOut>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const GemvArgs a) {
  __shared__ float red[kWarps][NT * 4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, c = lane & 3;
  const int row0 = blockIdx.x * 16 + g, row1 = row0 + 8;
  const bool ok0 = row0 < a.n, ok1 = row1 < a.n;
  const T* w0 = static_cast<const T*>(a.w) + size_t(ok0 ? row0 : 0) * a.k;
  const T* w1 = static_cast<const T*>(a.w) + size_t(ok1 ? row1 : 0) * a.k;
  const int nkb = (a.k + 31) / 32;

  bool bok[NT];
  float inv[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const int b = g + 8 * t;
    bok[t] = b < a.m;
    inv[t] = 0.0f;
    if constexpr (kNorm) {
      if (bok[t]) inv[t] = rsqrtf(a.sumsq_in[b] / float(a.k) + a.eps);
    }
  }

  float acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0.0f;

  const uint4 zero = make_uint4(0, 0, 0, 0);
  // Software pipeline: the weights of iteration i + 1 are in flight while iteration i's mma
  // run, so every thread keeps 2 x kUnroll x 2 16-byte loads outstanding.
  uint4 wa[kUnroll], wb[kUnroll];
  auto load_w = [&](int kb0, uint4* ra, uint4* rb) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      const int kk = kb * 32 + c * 8;
      const bool valid = kb < nkb && kk < a.k;
      ra[u] = (valid && ok0) ? load_stream(w0 + kk) : zero;
      rb[u] = (valid && ok1) ? load_stream(w1 + kk) : zero;
    }
  };
  load_w(warp, wa, wb);
  for (int kb0 = warp; kb0 < nkb; kb0 += kWarps * kUnroll) {
    uint4 na[kUnroll], nb[kUnroll];
    load_w(kb0 + kWarps * kUnroll, na, nb);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      const int kk = kb * 32 + c * 8;
      const bool valid = kb < nkb && kk < a.k;
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const uint4 xv = (valid && bok[t]) ? load_x<T, kNorm>(a, g + 8 * t, kk, inv[t]) : zero;
        mma16816<T>(acc[t], wa[u].x, wb[u].x, wa[u].y, wb[u].y, xv.x, xv.y);
        mma16816<T>(acc[t], wa[u].z, wb[u].z, wa[u].w, wb[u].w, xv.z, xv.w);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      wa[u] = na[u];
      wb[u] = nb[u];
    }
  }

#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][t * 4 + i][lane] = acc[t][i];
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float s = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) s += red[w][t * 4 + i][lane];
      acc[t][i] = s;
    }

    // acc[t] = {(row0, b0), (row0, b1), (row1, b0), (row1, b1)} with b0 = 8t + 2c, b1 = b0 + 1.
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const int b0 = 8 * t + 2 * c, b1 = b0 + 1;
    const bool in0 = b0 < a.m, in1 = b1 < a.m;
    if constexpr (kOut == GemvOut::StoreT) {
      T* y = static_cast<T*>(a.y);
      if (in0 && ok0) y[size_t(b0) * a.ldy + row0] = Ty<T>::from_f(acc[t][0]);
      if (in1 && ok0) y[size_t(b1) * a.ldy + row0] = Ty<T>::from_f(acc[t][1]);
      if (in0 && ok1) y[size_t(b0) * a.ldy + row1] = Ty<T>::from_f(acc[t][2]);
      if (in1 && ok1) y[size_t(b1) * a.ldy + row1] = Ty<T>::from_f(acc[t][3]);
    } else if constexpr (kOut == GemvOut::StoreF32) {
      float* y = static_cast<float*>(a.y);
      if (in0 && ok0) y[size_t(b0) * a.ldy + row0] = acc[t][0];
      if (in1 && ok0) y[size_t(b1) * a.ldy + row0] = acc[t][1];
      if (in0 && ok1) y[size_t(b0) * a.ldy + row1] = acc[t][2];
      if (in1 && ok1) y[size_t(b1) * a.ldy + row1] = acc[t][3];
    } else if constexpr (kOut == GemvOut::AddResidual) {
      float* y = static_cast<float*>(a.y);
      float sq0 = 0.0f, sq1 = 0.0f;
      if (in0 && ok0) {
        const float v = y[size_t(b0) * a.ldy + row0] + acc[t][0];
        y[size_t(b0) * a.ldy + row0] = v;
        sq0 += v * v;
      }
      if (in1 && ok0) {
        const float v = y[size_t(b1) * a.ldy + row0] + acc[t][1];
        y[size_t(b1) * a.ldy + row0] = v;
        sq1 += v * v;
      }
      if (in0 && ok1) {
        const float v = y[size_t(b0) * a.ldy + row1] + acc[t][2];
        y[size_t(b0) * a.ldy + row1] = v;
        sq0 += v * v;
      }
      if (in1 && ok1) {
        const float v = y[size_t(b1) * a.ldy + row1] + acc[t][3];
        y[size_t(b1) * a.ldy + row1] = v;
        sq1 += v * v;
      }
      if (a.sumsq_out != nullptr) {
#pragma unroll
        for (int o = 4; o < 32; o <<= 1) {  // sum over g (lanes with the same c)
          sq0 += __shfl_xor_sync(0xffffffffu, sq0, o);
          sq1 += __shfl_xor_sync(0xffffffffu, sq1, o);
        }
        if (g == 0) {
          if (in0) atomicAdd(a.sumsq_out + b0, sq0);
          if (in1) atomicAdd(a.sumsq_out + b1, sq1);
        }
      }
    } else {  // SwiGLU: tile rows 0..7 are gates, 8..15 the ups, of intermediate blockIdx.x*8+g
      T* y = static_cast<T*>(a.y);
      const int i = blockIdx.x * 8 + g;
      if (ok1) {
        const float g0 = acc[t][0], g1 = acc[t][1];
        if (in0) y[size_t(b0) * a.ldy + i] = Ty<T>::from_f(g0 / (1.0f + __expf(-g0)) * acc[t][2]);
        if (in1) y[size_t(b1) * a.ldy + i] = Ty<T>::from_f(g1 / (1.0f + __expf(-g1)) * acc[t][3]);
      }
    }
  }
}

template <typename T, int NT, bool kNorm>
void launch_out(const GemvArgs& a, cudaStream_t s) {
  const dim3 grid((a.n + 15) / 16), block(kWarps * 32);
  switch (a.out) {
    case GemvOut::StoreT:
      gemv_kernel<T, NT, kNorm, GemvOut::StoreT><<<grid, block, 0, s>>>(a);
      break;
    case GemvOut::StoreF32:
      gemv_kernel<T, NT, kNorm, GemvOut::StoreF32><<<grid, block, 0, s>>>(a);
      break;
    case GemvOut::AddResidual:
      gemv_kernel<T, NT, kNorm, GemvOut::AddResidual><<<grid, block, 0, s>>>(a);
      break;
    case GemvOut::SwiGLU:
      gemv_kernel<T, NT, kNorm, GemvOut::SwiGLU><<<grid, block, 0, s>>>(a);
      break;
  }
}

template <typename T>
void launch_typed(const GemvArgs& a, cudaStream_t s) {
  const bool norm = a.rms_gamma != nullptr;
  if (a.m <= 8) {
    norm ? launch_out<T, 1, true>(a, s) : launch_out<T, 1, false>(a, s);
  } else {
    norm ? launch_out<T, 2, true>(a, s) : launch_out<T, 2, false>(a, s);
  }
}

}  // namespace

int gemv_max_batch() {
  return 16;
}

void launch_gemv(DevType t, const GemvArgs& a, cudaStream_t stream, const std::string& step) {
  if (a.m < 1 || a.m > gemv_max_batch() || a.k % 8 != 0 || a.n < 1 || a.ldx % 8 != 0 ||
      (a.out == GemvOut::SwiGLU && a.n % 16 != 0) ||
      (a.rms_gamma != nullptr && (a.xf == nullptr || a.sumsq_in == nullptr)) ||
      (a.rms_gamma == nullptr && a.x == nullptr))
    throw_error(cat(step, ": unsupported gemv shape m=", a.m, " n=", a.n, " k=", a.k, " ldx=",
                    a.ldx, " (needs 1 <= m <= ", gemv_max_batch(), ", k and ldx multiples of 8)"));
  if (t == DevType::F16)
    launch_typed<__half>(a, stream);
  else
    launch_typed<__nv_bfloat16>(a, stream);
  ECO_LAUNCH_CHECK(step + cat(" (gemv m=", a.m, " n=", a.n, " k=", a.k, ")"));
}

}  // namespace eco::engine::cuda
