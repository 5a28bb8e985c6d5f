// LLM.int8() on the GPU for small batches, and the pieces of its bitsandbytes-style path.
//
// Activation quantization (one block per token row): outlier columns (any row with
// |x| >= threshold, threshold 0 = none), the row absmax over the other columns, int8 codes
// (0 in outlier columns), the fp16 input rows, and the ascending outlier column list with its
// count, all left on the device.
//
// Fused GEMV: the skeleton of gemv_tile.cuh (16 weight rows per block, 8 warps splitting k, the
// batch as the mma's n dimension) with int8 x int8 -> int32 mma.m16n8k32: each thread loads 16
// bytes of two weight rows and of each batch row at the same k, so k is permuted consistently
// for both operands. After the int8 products every warp adds a share of the outlier columns in
// fp32 (fp16 activations times the fp16 rounding of the dequantized int8 weight; the weight
// rows were just streamed, so these bytes come from L2), the block reduces, and warp 0
// dequantizes (acc * sx * sw / 127^2) and applies the output mode. No host round trip.
#include "engine/cuda/quant_common.cuh"

namespace eco::engine::cuda {
namespace {

// 4 k-blocks of weight loads in flight per warp and round. 8 (all of k = 4096 issued before the
// wait on the activation quantization) measured 3.5 % slower at batch 1 on an H200 (2026-12-02,
// docs/BENCHMARKS.md): more registers, fewer resident blocks.
constexpr int kInt8Unroll = 4;
constexpr int kActThreads = 512;
constexpr int kSmallBatch = 16;  // up to this many rows each block finds the outliers itself

__device__ __forceinline__ int8_t round_int8(float v) {
  v = fminf(fmaxf(v, -127.0f), 127.0f);
  return static_cast<int8_t>(__float2int_rn(v));
}

// flags[j] = 1 when any row has |x[., j]| >= threshold (batches above kSmallBatch).
__global__ void outlier_flags_kernel(const GemvIn in, int m, int k, float threshold,
                                     uint8_t* flags) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= k) return;
  const bool norm = in.rms_gamma != nullptr;
  uint8_t f = 0;
  for (int b = 0; b < m; ++b) {
    const float inv = norm ? row_inv_rms(in, b, k) : 0.0f;
    f |= uint8_t(fabsf(load_in1(in, norm, b, j, inv)) >= threshold);
  }
  flags[j] = f;
}

__global__ void __launch_bounds__(kActThreads)
    act_quant_kernel(const GemvIn in, int m, int k, float threshold, bool flags_ready,
                     const Int8Act act) {
  extern __shared__ uint8_t sflags[];  // [k]
  __shared__ float red[32];
  __shared__ int wsum[kActThreads / 32 + 1];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Let the GEMV that follows launch now: it prefetches weights until it must read our output.
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  const int b = blockIdx.x;
  const bool norm = in.rms_gamma != nullptr;
  const bool detect = threshold > 0.0f;
  if (detect) {
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
      uint8_t f = 0;
      if (flags_ready) {
        f = act.flags[j];
      } else {
        for (int bb = 0; bb < m; ++bb) {
          const float inv = norm ? row_inv_rms(in, bb, k) : 0.0f;
          f |= uint8_t(fabsf(load_in1(in, norm, bb, j, inv)) >= threshold);
        }
      }
      sflags[j] = f;
    }
    __syncthreads();
  }
  const float inv = norm ? row_inv_rms(in, b, k) : 0.0f;
  float mx = 0.0f;
  for (int j = threadIdx.x; j < k; j += blockDim.x)
    if (!detect || !sflags[j]) mx = fmaxf(mx, fabsf(load_in1(in, norm, b, j, inv)));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) red[0] = v;
  }
  __syncthreads();
  mx = red[0];
  const float qinv = mx > 0.0f ? 127.0f / mx : 0.0f;
  __half* xh = static_cast<__half*>(act.xh) + size_t(b) * k;
  int8_t* xq = act.xq + size_t(b) * k;
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const float v = load_in1(in, norm, b, j, inv);
    xh[j] = __float2half_rn(v);
    xq[j] = (detect && sflags[j]) ? int8_t(0) : round_int8(__fmul_rn(v, qinv));
  }
  if (threadIdx.x == 0) act.sx[b] = mx;
  if (b != 0) return;
  // Block 0: ascending list of the outlier columns (ballot + prefix over the block's warps).
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int base = 0;
  if (detect) {
    for (int j0 = 0; j0 < k; j0 += blockDim.x) {
      const int j = j0 + threadIdx.x;
      const bool f = j < k && sflags[j];
      const unsigned ball = __ballot_sync(0xffffffffu, f);
      if (lane == 0) wsum[warp] = __popc(ball);
      __syncthreads();
      if (threadIdx.x == 0) {
        int s = 0;
        for (int w = 0; w < int(blockDim.x / 32); ++w) {
          const int c = wsum[w];
          wsum[w] = s;
          s += c;
        }
        wsum[kActThreads / 32] = s;
      }
      __syncthreads();
      if (f) act.cols[base + wsum[warp] + __popc(ball & ((1u << lane) - 1u))] = j;
      base += wsum[kActThreads / 32];
      __syncthreads();
    }
  }
  if (threadIdx.x == 0) *act.n_outliers = base;
}

// The int8 format's policy for gemv_k_loop: k-blocks of 64 (16 bytes of each weight row and of
// each quantized batch row at the same k: k is permuted the same way for both operands, see
// gemv.cu), int32 accumulation; launched as a programmatic dependent of the activation
// quantization, so its outputs are read only after inputs_ready().
template <int NT>
struct Int8Weights {
  static constexpr int kUnroll = kInt8Unroll;
  static constexpr bool kPrefetch = false;
  static constexpr bool kSkipPastEnd = true;
  using Acc = int;
  struct Frag {
    uint4 a, b;  // rows g and g + 8
  };

  const int8_t* w0;
  const int8_t* w1;
  const int8_t* xq;
  int k, m, c, g, nkb;
  bool ok0, ok1;

  __device__ __forceinline__ Int8Weights(const QMatView& w, int rows, const Int8Act& act,
                                         const GemvTile& tl)
      : w0(reinterpret_cast<const int8_t*>(w.data) + size_t(tl.ok0 ? tl.row0 : 0) * w.k),
        w1(reinterpret_cast<const int8_t*>(w.data) + size_t(tl.ok1 ? tl.row1 : 0) * w.k),
        xq(act.xq),
        k(w.k),
        m(rows),
        c(tl.c),
        g(tl.g),
        nkb((w.k + 63) / 64),
        ok0(tl.ok0),
        ok1(tl.ok1) {}

  __device__ __forceinline__ int k_blocks() const { return nkb; }

  __device__ __forceinline__ void inputs_ready() const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // The weight loads of the first round are in flight; the activation quantization's
    // outputs (codes, scales, outlier columns) are read only from here on.
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  }

  __device__ __forceinline__ Frag load(int kb) const {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const int kk = kb * 64 + c * 16;
    const bool valid = kb < nkb && kk < k;
    return {(valid && ok0) ? load_stream(w0 + kk) : zero,
            (valid && ok1) ? load_stream(w1 + kk) : zero};
  }

  __device__ __forceinline__ const Frag& expand(const Frag& f) const {
    return f;
  }

  __device__ __forceinline__ void mma(int* acc, const Frag& w, int kb, int t) const {
    const int kk = kb * 64 + c * 16;
    const int b = g + 8 * t;
    const uint4 xv = (kk < k && b < m)
                         ? __ldg(reinterpret_cast<const uint4*>(xq + size_t(b) * k + kk))
                         : make_uint4(0, 0, 0, 0);
    mma_m16n8k32_s8(acc, w.a.x, w.b.x, w.a.y, w.b.y, xv.x, xv.y);
    mma_m16n8k32_s8(acc, w.a.z, w.b.z, w.a.w, w.b.w, xv.z, xv.w);
  }
};

// Outlier columns in fp32, shared among the warps: x (fp16) * fp16(dequantized weight). The
// weight rows were just streamed, so these bytes come from L2.
template <int NT>
__device__ __forceinline__ void add_outlier_columns(const QMatView& w, int m, const Int8Act& act,
                                                    const GemvTile& tl, float (&oacc)[NT][4]) {
  const int n_out = *act.n_outliers;
  const int8_t* wq = reinterpret_cast<const int8_t*>(w.data);
  const int8_t* w0 = wq + size_t(tl.ok0 ? tl.row0 : 0) * w.k;
  const int8_t* w1 = wq + size_t(tl.ok1 ? tl.row1 : 0) * w.k;
  const float sw0 = tl.ok0 ? w.absmax[tl.row0] : 0.0f, sw1 = tl.ok1 ? w.absmax[tl.row1] : 0.0f;
  const __half* xh = static_cast<const __half*>(act.xh);
  for (int j = tl.warp; j < n_out; j += kGemvWarps) {
    const int col = act.cols[j];
    const float q0 = tl.ok0 ? float(w0[col]) : 0.0f, q1 = tl.ok1 ? float(w1[col]) : 0.0f;
    const float d0 = __half2float(__float2half_rn(__fmul_rn(__fmul_rn(q0, sw0), kQInv127)));
    const float d1 = __half2float(__float2half_rn(__fmul_rn(__fmul_rn(q1, sw1), kQInv127)));
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int b0 = 8 * t + 2 * tl.c, b1 = b0 + 1;
      const float x0 = b0 < m ? __half2float(xh[size_t(b0) * w.k + col]) : 0.0f;
      const float x1 = b1 < m ? __half2float(xh[size_t(b1) * w.k + col]) : 0.0f;
      oacc[t][0] += x0 * d0;
      oacc[t][1] += x1 * d0;
      oacc[t][2] += x0 * d1;
      oacc[t][3] += x1 * d1;
    }
  }
}

template <int NT, GemvOut kOut>
__global__ void __launch_bounds__(kGemvThreads)
    int8_gemv_kernel(const QMatView w, int m, const Int8Act act, bool outliers, const GemvDst out) {
  __shared__ int red[kGemvWarps * NT * 4 * 32];
  const GemvTile tl(w.n);
  int acc[NT][4];
  float oacc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      acc[t][i] = 0;
      oacc[t][i] = 0.0f;
    }
  gemv_k_loop<NT>(Int8Weights<NT>(w, m, act, tl), tl.warp, acc);
  if (outliers) add_outlier_columns<NT>(w, m, act, tl, oacc);
  sum_over_warps<NT>(acc, red, tl);
  if (outliers) {
    __syncthreads();  // warp 0 has read the int32 sums
    sum_over_warps<NT>(oacc, reinterpret_cast<float*>(red), tl);
  }
  if (tl.warp != 0) return;
  const float sw0 = tl.ok0 ? w.absmax[tl.row0] : 0.0f, sw1 = tl.ok1 ? w.absmax[tl.row1] : 0.0f;
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const int b0 = 8 * t + 2 * tl.c, b1 = b0 + 1;
    const float sx0 = b0 < m ? act.sx[b0] : 0.0f, sx1 = b1 < m ? act.sx[b1] : 0.0f;
    float v[4];
    v[0] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][0]), sx0), sw0), kQInv127Sq) + oacc[t][0];
    v[1] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][1]), sx1), sw0), kQInv127Sq) + oacc[t][1];
    v[2] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][2]), sx0), sw1), kQInv127Sq) + oacc[t][2];
    v[3] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][3]), sx1), sw1), kQInv127Sq) + oacc[t][3];
    store_tile<__half, kOut>(out, m, tl, t, v);
  }
}

bool programmatic_launch_supported() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      return false;
    return major >= 9;
  }();
  return ok;
}

// Launches the GEMV as a programmatic dependent of the preceding activation quantization
// (Hopper): its launch and first weight loads overlap that kernel.
struct Int8Launch {
  const QMatView& w;
  int m;
  const Int8Act& act;
  bool outliers;
  const GemvDst& out;
  cudaStream_t s;
  template <int NT, GemvOut kOut>
  void run() const {
    auto* kernel = int8_gemv_kernel<NT, kOut>;
    if (!programmatic_launch_supported()) {
      kernel<<<gemv_grid(w.n), kGemvThreads, 0, s>>>(w, m, act, outliers, out);
      return;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = gemv_grid(w.n);
    cfg.blockDim = dim3(kGemvThreads);
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    ECO_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, w, m, act, outliers, out), "int8 gemv launch");
  }
};

__global__ void gather_x_kernel(const __half* xh, int m, int k, const int* cols, int n_out,
                                __half* xo) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= m * n_out) return;
  const int b = i / n_out, j = i % n_out;
  xo[i] = xh[size_t(b) * k + cols[j]];
}

__global__ void gather_w_kernel(const QMatView w, const int* cols, int n_out, __half* wo) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(w.n) * n_out) return;
  const int64_t o = i / n_out;
  const int j = int(i % n_out);
  const float q = float(reinterpret_cast<const int8_t*>(w.data)[o * w.k + cols[j]]);
  wo[i] = __float2half_rn(__fmul_rn(__fmul_rn(q, w.absmax[o]), kQInv127));
}

}  // namespace

int int8_gemv_max_batch() {
  return 32;
}

void launch_int8_quantize_activations(const GemvIn& in, int m, int k, float threshold,
                                      const Int8Act& act, cudaStream_t stream,
                                      const std::string& step) {
  if (m < 1 || k % 8 != 0)
    throw_error(cat(step, ": int8 activations of ", m, " rows x ", k, " columns"));
  const bool flags_ready = threshold > 0.0f && m > kSmallBatch;
  if (flags_ready) {
    outlier_flags_kernel<<<(k + 255) / 256, 256, 0, stream>>>(in, m, k, threshold, act.flags);
    ECO_LAUNCH_CHECK(step + " (outlier columns)");
  }
  const size_t smem = threshold > 0.0f ? size_t(k) : 0;
  if (smem > 48 * 1024)
    ECO_CUDA_CHECK(cudaFuncSetAttribute(act_quant_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                   step);
  act_quant_kernel<<<m, kActThreads, smem, stream>>>(in, m, k, threshold, flags_ready, act);
  ECO_LAUNCH_CHECK(step + cat(" (int8 activation quantization m=", m, " k=", k, ")"));
}

void launch_int8_gemv(const QMatView& w, int m, const Int8Act& act, bool outliers,
                      const GemvDst& out, cudaStream_t stream, const std::string& step) {
  if (m < 1 || m > int8_gemv_max_batch() || w.k % 16 != 0 || w.fmt != QFormat::Int8 ||
      (out.kind == GemvOut::SwiGLU && w.n % 16 != 0))
    throw_error(cat(step, ": unsupported int8 gemv m=", m, " n=", w.n, " k=", w.k,
                    " (needs m <= ", int8_gemv_max_batch(), ", k % 16 == 0)"));
  gemv_dispatch<4>(m, out.kind, Int8Launch{w, m, act, outliers, out, stream});
  ECO_LAUNCH_CHECK(step + cat(" (int8 gemv m=", m, " n=", w.n, " k=", w.k, ")"));
}

void launch_gather_x_cols(const void* xh, int m, int k, const int* cols, int n_out, void* xo,
                          cudaStream_t stream, const std::string& step) {
  if (n_out <= 0) return;
  gather_x_kernel<<<(m * n_out + 255) / 256, 256, 0, stream>>>(
      static_cast<const __half*>(xh), m, k, cols, n_out, static_cast<__half*>(xo));
  ECO_LAUNCH_CHECK(step + " (gather outlier activations)");
}

void launch_gather_w_cols(const QMatView& w, const int* cols, int n_out, void* wo,
                          cudaStream_t stream, const std::string& step) {
  if (n_out <= 0) return;
  const int64_t total = int64_t(w.n) * n_out;
  gather_w_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(w, cols, n_out,
                                                                     static_cast<__half*>(wo));
  ECO_LAUNCH_CHECK(step + " (gather outlier weight columns)");
}

}  // namespace eco::engine::cuda
