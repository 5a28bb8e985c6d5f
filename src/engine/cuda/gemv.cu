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
//
// Split-K (grid.y > 1): a matrix with too few 16-row tiles to keep the GPU's resident-block
// slots busy (at batch 1 on an H200: mistral-7b's o_proj and down_proj, 256 tiles for 528
// slots; q|k|v, 384 tiles for 264 slots of the fused-norm kernel, i.e. a second wave on half
// the card) divides k among grid.y blocks per tile; combine_k_splits (gemv_tile.cuh) adds
// their partials before the same epilogue. choose_gemv_splits (launch_plan.h) picks grid.y
// from the tiles, k and the slots the kernel really has (the occupancy API, asked once per
// kernel); large matrices (gate|up, lm_head) keep one block per tile.
#include "engine/cuda/gemv_tile.cuh"
#include "engine/cuda/launch_plan.h"

namespace eco::engine::cuda {
namespace {

// The dense format's policy for gemv_k_loop: k-blocks of 32 elements, the weights as loaded are
// the mma operands, the next round of loads is issued before this round's products. The block
// covers k-blocks kb_begin .. kb_begin + nkb (its split; the whole row without split-K); kb
// below is relative to kb_begin.
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
  const T* w0;  // rows g and g + 8 at the split's first k
  const T* w1;
  int kbase;  // the split's first k
  int klim;   // k - kbase
  int c, g, nkb;
  bool ok0, ok1;
  bool bok[NT];
  float inv[NT];

  __device__ __forceinline__ DenseWeights(const GemvArgs& args, const GemvTile& tl, int kb_begin,
                                          int kb_count)
      : p(args),
        w0(static_cast<const T*>(args.w) + size_t(tl.ok0 ? tl.row0 : 0) * args.k + kb_begin * 32),
        w1(static_cast<const T*>(args.w) + size_t(tl.ok1 ? tl.row1 : 0) * args.k + kb_begin * 32),
        kbase(kb_begin * 32),
        klim(args.k - kb_begin * 32),
        c(tl.c),
        g(tl.g),
        nkb(kb_count),
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
    const bool valid = kb < nkb && kk < klim;
    return {(valid && ok0) ? load_stream(w0 + kk) : zero,
            (valid && ok1) ? load_stream(w1 + kk) : zero};
  }

  __device__ __forceinline__ const Frag& expand(const Frag& f) const {
    return f;
  }

  __device__ __forceinline__ void mma(float* acc, const Frag& w, int kb, int t) const {
    const int kr = kb * 32 + c * 8;
    const int kk = kbase + kr;
    // Past the split's end the weights are zeros: skip the input (another split's columns).
    const uint4 xv = (kb < nkb && kr < klim && bok[t])
                         ? load_x8<T>(p.in, kNorm, g + 8 * t, kk, inv[t])
                         : make_uint4(0, 0, 0, 0);
    mma_m16n8k16<T>(acc, w.a.x, w.b.x, w.a.y, w.b.y, xv.x, xv.y);
    mma_m16n8k16<T>(acc, w.a.z, w.b.z, w.a.w, w.b.w, xv.z, xv.w);
  }
};

template <typename T, int NT, bool kNorm, GemvOut kOut>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const GemvArgs a) {
  __shared__ float red[kGemvWarps * NT * 4 * 32];
  const GemvTile tl(a.n);
  // This block's k-blocks: share blockIdx.y of gridDim.y equal shares (the last may be short).
  const int nkb = (a.k + 31) / 32;
  const int share = (nkb + int(gridDim.y) - 1) / int(gridDim.y);
  const int kb0 = int(blockIdx.y) * share;
  const DenseWeights<T, NT, kNorm> f(a, tl, kb0, max(0, min(share, nkb - kb0)));
  float acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0.0f;
  gemv_k_loop<NT>(f, tl.warp, acc);
  sum_over_warps<NT>(acc, red, tl);
  if (tl.warp != 0) return;
  if (gridDim.y > 1 && !combine_k_splits<NT>(acc, a.scratch, tl)) return;
#pragma unroll
  for (int t = 0; t < NT; ++t) store_tile<T, kOut>(a.out, a.m, tl, t, acc[t]);
}

// Resident blocks per SM of one kernel (0 when the occupancy API cannot say: then no split).
template <typename Kernel>
int resident_blocks_per_sm(Kernel kernel) {
  int n = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kGemvThreads, 0) != cudaSuccess) {
    (void)cudaGetLastError();  // not a launch failure: run without split-K
    n = 0;
  }
  return n;
}

// The split of a checked launch: forced (a.splits >= 1) or chosen for this kernel's slots.
int resolve_splits(const GemvArgs& a, int per_sm) {
  if (a.splits >= 1) return a.splits;
  const GemvSplitScratch& sc = a.scratch;
  const int tiles = (a.n + 15) / 16;
  if (sc.partial == nullptr || sc.tickets == nullptr || sc.blocks < 2 * tiles || per_sm <= 0)
    return 1;
  return choose_gemv_splits(tiles, (a.k + 31) / 32, long(sc.sm_count) * per_sm, sc.blocks / tiles);
}

// Launches the kernel for n-tiles NT and output mode kOut (launch) or only tells the split.
template <typename T, bool kNorm>
struct DenseLaunch {
  const GemvArgs& a;
  cudaStream_t s;
  bool launch;
  int* splits;
  template <int NT, GemvOut kOut>
  void run() const {
    const auto kernel = gemv_kernel<T, NT, kNorm, kOut>;
    static const int per_sm = resident_blocks_per_sm(kernel);
    *splits = resolve_splits(a, per_sm);
    const dim3 grid(gemv_grid(a.n).x, unsigned(*splits));
    if (launch) kernel<<<grid, kGemvThreads, 0, s>>>(a);
  }
};

template <typename T>
int dispatch_typed(const GemvArgs& a, cudaStream_t s, bool launch) {
  int splits = 1;
  if (a.in.rms_gamma != nullptr)
    gemv_dispatch<2>(a.m, a.out.kind, DenseLaunch<T, true>{a, s, launch, &splits});
  else
    gemv_dispatch<2>(a.m, a.out.kind, DenseLaunch<T, false>{a, s, launch, &splits});
  return splits;
}

void check_gemv(const GemvArgs& a, const std::string& step) {
  const GemvIn& in = a.in;
  if (a.m < 1 || a.m > gemv_max_batch() || a.k % 8 != 0 || a.n < 1 || in.ldx % 8 != 0 ||
      (a.out.kind == GemvOut::SwiGLU && a.n % 16 != 0) ||
      (in.rms_gamma != nullptr && (in.xf == nullptr || in.sumsq_in == nullptr)) ||
      (in.rms_gamma == nullptr && in.x == nullptr))
    throw_error(cat(step, ": unsupported gemv shape m=", a.m, " n=", a.n, " k=", a.k, " ldx=",
                    in.ldx, " (needs 1 <= m <= ", gemv_max_batch(), ", k and ldx multiples of 8)"));
  const long blocks = long((a.n + 15) / 16) * a.splits;
  if (a.splits < 0 || (a.splits > 1 && (a.scratch.partial == nullptr ||
                                        a.scratch.tickets == nullptr || blocks > a.scratch.blocks)))
    throw_error(cat(step, ": gemv split-K of ", a.splits, " blocks per tile needs scratch for ",
                    blocks, " blocks (has ", a.scratch.blocks,
                    "); use splits 0 (automatic) or 1 (none), or a larger GemvSplitBuffers"));
}

int dispatch(DevType t, const GemvArgs& a, cudaStream_t stream, bool launch) {
  return t == DevType::F16 ? dispatch_typed<__half>(a, stream, launch)
                           : dispatch_typed<__nv_bfloat16>(a, stream, launch);
}

}  // namespace

int gemv_max_batch() {
  return 16;
}

int gemv_split_floats_per_block() {
  return 2 * 4 * 32;  // the most n-tiles a dense launch uses (2) x 4 accumulators x 32 lanes
}

void prepare_gemv_launches() {
  // Every kernel's resident-block count is asked once, here: not first inside a graph capture.
  GemvArgs a;
  a.n = 16;
  a.k = 64;
  for (DevType t : {DevType::F16, DevType::BF16})
    for (int m : {1, gemv_max_batch()})
      for (GemvOut kind :
           {GemvOut::StoreT, GemvOut::StoreF32, GemvOut::AddResidual, GemvOut::SwiGLU})
        for (bool norm : {false, true}) {
          a.m = m;
          a.out.kind = kind;
          a.in.rms_gamma = norm ? &a : nullptr;
          (void)dispatch(t, a, nullptr, false);
        }
}

int gemv_splits_for(DevType t, const GemvArgs& a) {
  check_gemv(a, "gemv_splits_for");
  return dispatch(t, a, nullptr, false);
}

void launch_gemv(DevType t, const GemvArgs& a, cudaStream_t stream, const std::string& step) {
  check_gemv(a, step);
  const int splits = dispatch(t, a, stream, true);
  ECO_LAUNCH_CHECK(cat(step, " (gemv m=", a.m, " n=", a.n, " k=", a.k, " splits=", splits, ")"));
}

}  // namespace eco::engine::cuda
