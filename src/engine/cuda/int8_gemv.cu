// LLM.int8() on the GPU for small batches, and the pieces of its bitsandbytes-style path.
//
// Activation quantization (one block per token row): outlier columns (any row with
// |x| >= threshold, threshold 0 = none), the row absmax over the other columns, int8 codes
// (0 in outlier columns), the fp16 input rows, and the ascending outlier column list with its
// count, all left on the device.
//
// Fused GEMV: the tile layout of gemv.cu (16 weight rows per block, 8 warps splitting k, the
// batch as the mma's n dimension) with int8 x int8 -> int32 mma.m16n8k32: each thread loads 16
// bytes of two weight rows and of each batch row at the same k, so k is permuted consistently
// for both operands. After the int8 products every warp adds a share of the outlier columns in
// fp32 (fp16 activations times the fp16 rounding of the dequantized int8 weight; the weight
// rows were just streamed, so these bytes come from L2), the block reduces, and warp 0
// dequantizes (acc * sx * sw / 127^2) and applies the output mode. No host round trip.
#include "engine/cuda/quant_common.cuh"

namespace eco::engine::cuda {
namespace {

constexpr int kWarps = 8;
// 4 k-blocks of weight loads in flight per warp and round. 8 (all of k = 4096 issued before the
// wait on the activation quantization) measured 3.5 % slower at batch 1 on an H200 (2026-12-02,
// docs/BENCHMARKS.md): more registers, fewer resident blocks.
constexpr int kUnroll = 4;
constexpr int kActThreads = 512;
constexpr int kSmallBatch = 16;  // up to this many rows each block finds the outliers itself

__device__ __forceinline__ int8_t round_int8(float v) {
  v = fminf(fmaxf(v, -127.0f), 127.0f);
  return static_cast<int8_t>(__float2int_rn(v));
}

// flags[j] = 1 when any row has |x[., j]| >= threshold (batches above kSmallBatch).
__global__ void outlier_flags_kernel(const QInput in, int m, int k, float threshold,
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
    act_quant_kernel(const QInput in, int m, int k, float threshold, bool flags_ready,
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

template <int NT, GemvOut kOut>
__global__ void __launch_bounds__(kWarps * 32)
    int8_gemv_kernel(const QMatView w, int m, const Int8Act act, bool outliers, const QOut out) {
  __shared__ int red[kWarps][NT * 4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, c = lane & 3;
  const int tile = blockIdx.x;
  const int row0 = tile * 16 + g, row1 = row0 + 8;
  const bool ok0 = row0 < w.n, ok1 = row1 < w.n;
  const int k = w.k;
  const int8_t* wq = reinterpret_cast<const int8_t*>(w.data);
  const int8_t* w0 = wq + size_t(ok0 ? row0 : 0) * k;
  const int8_t* w1 = wq + size_t(ok1 ? row1 : 0) * k;
  const int nkb = (k + 63) / 64;

  int acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0;

  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int kb0 = warp; kb0 < nkb; kb0 += kWarps * kUnroll) {
    uint4 wa[kUnroll], wb[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      const int kk = kb * 64 + c * 16;
      const bool valid = kb < nkb && kk < k;
      wa[u] = (valid && ok0) ? load_stream(w0 + kk) : zero;
      wb[u] = (valid && ok1) ? load_stream(w1 + kk) : zero;
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // Launched as a programmatic dependent of the activation quantization: the weight loads
    // above are in flight; its outputs are read only from here on.
    if (kb0 == warp) asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      const int kk = kb * 64 + c * 16;
      if (kb >= nkb) break;
      const bool valid = kk < k;
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const int b = g + 8 * t;
        const uint4 xv = (valid && b < m)
                             ? __ldg(reinterpret_cast<const uint4*>(act.xq + size_t(b) * k + kk))
                             : zero;
        mma_s8(acc[t], wa[u].x, wb[u].x, wa[u].y, wb[u].y, xv.x, xv.y);
        mma_s8(acc[t], wa[u].z, wb[u].z, wa[u].w, wb[u].w, xv.z, xv.w);
      }
    }
  }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");  // warps that ran no k-block wait here
#endif
  // Outlier columns in fp32, shared among the warps: x (fp16) * fp16(dequantized weight).
  float oacc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) oacc[t][i] = 0.0f;
  if (outliers) {
    const int n_out = *act.n_outliers;
    const float sw0 = ok0 ? w.absmax[row0] : 0.0f, sw1 = ok1 ? w.absmax[row1] : 0.0f;
    const __half* xh = static_cast<const __half*>(act.xh);
    for (int j = warp; j < n_out; j += kWarps) {
      const int col = act.cols[j];
      const float q0 = ok0 ? float(w0[col]) : 0.0f, q1 = ok1 ? float(w1[col]) : 0.0f;
      const float d0 = __half2float(__float2half_rn(__fmul_rn(__fmul_rn(q0, sw0), kQInv127)));
      const float d1 = __half2float(__float2half_rn(__fmul_rn(__fmul_rn(q1, sw1), kQInv127)));
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const int b0 = 8 * t + 2 * c, b1 = b0 + 1;
        const float x0 = b0 < m ? __half2float(xh[size_t(b0) * k + col]) : 0.0f;
        const float x1 = b1 < m ? __half2float(xh[size_t(b1) * k + col]) : 0.0f;
        oacc[t][0] += x0 * d0;
        oacc[t][1] += x1 * d0;
        oacc[t][2] += x0 * d1;
        oacc[t][3] += x1 * d1;
      }
    }
  }

#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][t * 4 + i][lane] = acc[t][i];
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        int s = 0;
#pragma unroll
        for (int v = 0; v < kWarps; ++v) s += red[v][t * 4 + i][lane];
        acc[t][i] = s;
      }
  }
  if (outliers) {
    __syncthreads();
    float(*fred)[NT * 4][32] = reinterpret_cast<float(*)[NT * 4][32]>(red);
#pragma unroll
    for (int t = 0; t < NT; ++t)
#pragma unroll
      for (int i = 0; i < 4; ++i) fred[warp][t * 4 + i][lane] = oacc[t][i];
    __syncthreads();
    if (warp == 0) {
#pragma unroll
      for (int t = 0; t < NT; ++t)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float s = 0.0f;
#pragma unroll
          for (int v = 0; v < kWarps; ++v) s += fred[v][t * 4 + i][lane];
          oacc[t][i] = s;
        }
    }
  }
  if (warp != 0) return;
  const float sw0 = ok0 ? w.absmax[row0] : 0.0f, sw1 = ok1 ? w.absmax[row1] : 0.0f;
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const int b0 = 8 * t + 2 * c, b1 = b0 + 1;
    const float sx0 = b0 < m ? act.sx[b0] : 0.0f, sx1 = b1 < m ? act.sx[b1] : 0.0f;
    float v[4];
    v[0] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][0]), sx0), sw0), kQInv127Sq) + oacc[t][0];
    v[1] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][1]), sx1), sw0), kQInv127Sq) + oacc[t][1];
    v[2] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][2]), sx0), sw1), kQInv127Sq) + oacc[t][2];
    v[3] = __fmul_rn(__fmul_rn(__fmul_rn(float(acc[t][3]), sx1), sw1), kQInv127Sq) + oacc[t][3];
    store_tile<kOut>(out, m, w.n, tile, g, c, t, v);
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
template <typename K>
void launch_dependent(K kernel, dim3 grid, dim3 block, cudaStream_t s, const QMatView& w, int m,
                      const Int8Act& act, bool outliers, const QOut& out) {
  if (!programmatic_launch_supported()) {
    kernel<<<grid, block, 0, s>>>(w, m, act, outliers, out);
    return;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  ECO_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, w, m, act, outliers, out), "int8 gemv launch");
}

template <int NT>
void launch_nt(const QMatView& w, int m, const Int8Act& act, bool outliers, const QOut& out,
               cudaStream_t s) {
  const dim3 grid((w.n + 15) / 16), block(kWarps * 32);
  switch (out.kind) {
    case GemvOut::StoreT:
      launch_dependent(int8_gemv_kernel<NT, GemvOut::StoreT>, grid, block, s, w, m, act, outliers,
                       out);
      break;
    case GemvOut::StoreF32:
      launch_dependent(int8_gemv_kernel<NT, GemvOut::StoreF32>, grid, block, s, w, m, act, outliers,
                       out);
      break;
    case GemvOut::AddResidual:
      launch_dependent(int8_gemv_kernel<NT, GemvOut::AddResidual>, grid, block, s, w, m, act,
                       outliers, out);
      break;
    case GemvOut::SwiGLU:
      launch_dependent(int8_gemv_kernel<NT, GemvOut::SwiGLU>, grid, block, s, w, m, act, outliers,
                       out);
      break;
  }
}

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

void launch_int8_quantize_activations(const QInput& in, int m, int k, float threshold,
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

void launch_int8_gemv(const QMatView& w, int m, const Int8Act& act, bool outliers, const QOut& out,
                      cudaStream_t stream, const std::string& step) {
  if (m < 1 || m > int8_gemv_max_batch() || w.k % 16 != 0 || w.fmt != QFormat::Int8 ||
      (out.kind == GemvOut::SwiGLU && w.n % 16 != 0))
    throw_error(cat(step, ": unsupported int8 gemv m=", m, " n=", w.n, " k=", w.k,
                    " (needs m <= ", int8_gemv_max_batch(), ", k % 16 == 0)"));
  if (m <= 8)
    launch_nt<1>(w, m, act, outliers, out, stream);
  else if (m <= 16)
    launch_nt<2>(w, m, act, outliers, out, stream);
  else
    launch_nt<4>(w, m, act, outliers, out, stream);
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
