// Small-batch matrix-vector products on the tensor cores for fp16/bf16 weights:
// y[m, n] = W[n, :] . x[m, :], m <= 16, on the skeleton of gemv_tile.cuh.
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
#include "engine/cuda/gemv_tile.cuh"

namespace eco::engine::cuda {
namespace {

// The dense format's policy for gemv_k_loop: k-blocks of 32 elements, the weights as loaded are
// the mma operands, the next round of loads is issued before this round's products.
template <typename T, int NT, bool kNorm>
struct DenseWeights {
  static constexpr int kUnroll = 4;  // k-blocks of weights in flight per thread (2 rows x 16 B)
  static constexpr bool kPrefetch = true;
  static constexpr bool kSkipPastEnd = false;  // past the end: zero weights and inputs
  using Acc = float;
  struct Frag {
    uint4 a, b;  // rows g and g + 8
  };

  const GemvArgs& p;
  const T* w0;
  const T* w1;
  int c, g, nkb;
  bool ok0, ok1;
  bool bok[NT];
  float inv[NT];

  __device__ __forceinline__ DenseWeights(const GemvArgs& args, const GemvTile& tl)
      : p(args),
        w0(static_cast<const T*>(args.w) + size_t(tl.ok0 ? tl.row0 : 0) * args.k),
        w1(static_cast<const T*>(args.w) + size_t(tl.ok1 ? tl.row1 : 0) * args.k),
        c(tl.c),
        g(tl.g),
        nkb((args.k + 31) / 32),
        ok0(tl.ok0),
        ok1(tl.ok1) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int b = g + 8 * t;
      bok[t] = b < p.m;
      inv[t] = 0.0f;
      if constexpr (kNorm) {
        if (bok[t]) inv[t] = row_inv_rms(p.in, b, p.k);
      }
    }
  }

  __device__ __forceinline__ int k_blocks() const {
    return nkb;
  }
  __device__ __forceinline__ void inputs_ready() const {}

  __device__ __forceinline__ Frag load(int kb) const {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const int kk = kb * 32 + c * 8;
    const bool valid = kb < nkb && kk < p.k;
    return {(valid && ok0) ? load_stream(w0 + kk) : zero,
            (valid && ok1) ? load_stream(w1 + kk) : zero};
  }

  __device__ __forceinline__ const Frag& expand(const Frag& f) const {
    return f;
  }

  __device__ __forceinline__ void mma(float* acc, const Frag& w, int kb, int t) const {
    const int kk = kb * 32 + c * 8;
    const uint4 xv = (kk < p.k && bok[t]) ? load_x8<T>(p.in, kNorm, g + 8 * t, kk, inv[t])
                                          : make_uint4(0, 0, 0, 0);
    mma_m16n8k16<T>(acc, w.a.x, w.b.x, w.a.y, w.b.y, xv.x, xv.y);
    mma_m16n8k16<T>(acc, w.a.z, w.b.z, w.a.w, w.b.w, xv.z, xv.w);
  }
};

template <typename T, int NT, bool kNorm, GemvOut kOut>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const GemvArgs a) {
  __shared__ float red[kGemvWarps * NT * 4 * 32];
  const GemvTile tl(a.n);
  const DenseWeights<T, NT, kNorm> f(a, tl);
  float acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0.0f;
  gemv_k_loop<NT>(f, tl.warp, acc);
  sum_over_warps<NT>(acc, red, tl);
  if (tl.warp != 0) return;
#pragma unroll
  for (int t = 0; t < NT; ++t) store_tile<T, kOut>(a.out, a.m, tl, t, acc[t]);
}

template <typename T, bool kNorm>
struct DenseLaunch {
  const GemvArgs& a;
  cudaStream_t s;
  template <int NT, GemvOut kOut>
  void run() const {
    gemv_kernel<T, NT, kNorm, kOut><<<gemv_grid(a.n), kGemvThreads, 0, s>>>(a);
  }
};

template <typename T>
void launch_typed(const GemvArgs& a, cudaStream_t s) {
  if (a.in.rms_gamma != nullptr)
    gemv_dispatch<2>(a.m, a.out.kind, DenseLaunch<T, true>{a, s});
  else
    gemv_dispatch<2>(a.m, a.out.kind, DenseLaunch<T, false>{a, s});
}

}  // namespace

int gemv_max_batch() {
  return 16;
}

void launch_gemv(DevType t, const GemvArgs& a, cudaStream_t stream, const std::string& step) {
  const GemvIn& in = a.in;
  if (a.m < 1 || a.m > gemv_max_batch() || a.k % 8 != 0 || a.n < 1 || in.ldx % 8 != 0 ||
      (a.out.kind == GemvOut::SwiGLU && a.n % 16 != 0) ||
      (in.rms_gamma != nullptr && (in.xf == nullptr || in.sumsq_in == nullptr)) ||
      (in.rms_gamma == nullptr && in.x == nullptr))
    throw_error(cat(step, ": unsupported gemv shape m=", a.m, " n=", a.n, " k=", a.k, " ldx=",
                    in.ldx, " (needs 1 <= m <= ", gemv_max_batch(), ", k and ldx multiples of 8)"));
  if (t == DevType::F16)
    launch_typed<__half>(a, stream);
  else
    launch_typed<__nv_bfloat16>(a, stream);
  ECO_LAUNCH_CHECK(cat(step, " (gemv m=", a.m, " n=", a.n, " k=", a.k, ")"));
}

}  // namespace eco::engine::cuda
