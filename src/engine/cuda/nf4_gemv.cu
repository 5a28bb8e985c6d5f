// Fused NF4 / NF4-DQ dequantize-GEMV: y[m, n] = W[n, :] . x[m, :] for m <= 64, with the 4-bit
// weights expanded to fp16 in registers and multiplied on the tensor cores (mma.m16n8k16, the
// batch as n, on the skeleton of gemv_tile.cuh), so the weights cross the memory bus once at
// 4.5 (4.13) bits each.
//
// Layout choice: a 64-block of NF4 shares one absmax, so a warp's mma must draw all its k
// slots from one block of each weight row. Thread (g, c) therefore takes bytes
// [32 kb + 8 c, +8) of weight rows g and g + 8 (elements 64 kb + 16 c .. +15 of block kb)
// and the same 16 input columns of batch row g; four mmas with a zero accumulator give the
// block's dot products unscaled, which are then scaled by the two rows' absmax (fp32) and
// added. The codes become fp16 pairs through a byte -> half2 table in shared memory,
// replicated per lane (address = byte * 32 + lane) so that lookups never conflict.
// Needs k % 64 == 0 (blocks within rows); other shapes take the dequantize path.
#include "engine/cuda/quant_common.cuh"
#include "quant/nf4.h"

namespace eco::engine::cuda {
namespace {

__constant__ float c_codes[16] = {
    quant::kNF4Codes[0],  quant::kNF4Codes[1],  quant::kNF4Codes[2],  quant::kNF4Codes[3],
    quant::kNF4Codes[4],  quant::kNF4Codes[5],  quant::kNF4Codes[6],  quant::kNF4Codes[7],
    quant::kNF4Codes[8],  quant::kNF4Codes[9],  quant::kNF4Codes[10], quant::kNF4Codes[11],
    quant::kNF4Codes[12], quant::kNF4Codes[13], quant::kNF4Codes[14], quant::kNF4Codes[15]};

__device__ __forceinline__ uint2 load_stream8(const void* p) {
  uint2 r;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0,%1}, [%2];"
               : "=r"(r.x), "=r"(r.y)
               : "l"(p));
  return r;
}

// The NF4 format's policy for gemv_k_loop: k-blocks of 64 (one absmax block; 8 bytes = 16 codes
// of each weight row per thread), the codes expanded to fp16 pairs through the shared table,
// four mmas per n-tile with a zero accumulator scaled by the rows' absmax.
template <int NT>
struct Nf4Weights {
  static constexpr int kUnroll = 4;
  static constexpr bool kPrefetch = false;
  static constexpr bool kSkipPastEnd = true;  // mma() reads inputs without a k bound
  using Acc = float;
  struct Frag {
    uint2 a, b;      // codes of rows g and g + 8
    float am0, am1;  // their block absmax
  };
  struct Operand {
    uint32_t w0[8], w1[8];  // fp16 pairs
    float am0, am1;
  };

  const QMatView& w;
  const GemvIn& in;
  const uint32_t* lut;  // shared: [256 byte values][32 lanes] half2
  const float* dmap;    // shared: the dynamic map (nf4-dq)
  const uint8_t* p0;
  const uint8_t* p1;
  size_t blk0, blk1;
  float offset;
  int m, lane, c, g, nkb;
  bool ok0, ok1, dq, norm;
  float inv[NT];

  __device__ __forceinline__ Nf4Weights(const QMatView& wv, int rows, const GemvIn& input,
                                        const uint32_t* table, const float* map, const GemvTile& tl)
      : w(wv),
        in(input),
        lut(table),
        dmap(map),
        p0(wv.data + size_t(tl.ok0 ? tl.row0 : 0) * (wv.k / 2) + tl.c * 8),
        p1(wv.data + size_t(tl.ok1 ? tl.row1 : 0) * (wv.k / 2) + tl.c * 8),
        blk0(size_t(tl.ok0 ? tl.row0 : 0) * (wv.k / 64)),
        blk1(size_t(tl.ok1 ? tl.row1 : 0) * (wv.k / 64)),
        offset(wv.fmt == QFormat::NF4DQ ? *wv.dq_offset : 0.0f),
        m(rows),
        lane(tl.lane),
        c(tl.c),
        g(tl.g),
        nkb(wv.k / 64),
        ok0(tl.ok0),
        ok1(tl.ok1),
        dq(wv.fmt == QFormat::NF4DQ),
        norm(input.rms_gamma != nullptr) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int b = g + 8 * t;
      inv[t] = (norm && b < m) ? row_inv_rms(in, b, w.k) : 0.0f;
    }
  }

  __device__ __forceinline__ int k_blocks() const {
    return nkb;
  }
  __device__ __forceinline__ void inputs_ready() const {}

  __device__ __forceinline__ Frag load(int kb) const {
    const uint2 zero2 = make_uint2(0, 0);
    const bool valid = kb < nkb;
    Frag f;
    f.a = (valid && ok0) ? load_stream8(p0 + size_t(kb) * 32) : zero2;
    f.b = (valid && ok1) ? load_stream8(p1 + size_t(kb) * 32) : zero2;
    if (!valid) {
      f.am0 = f.am1 = 0.0f;
    } else if (dq) {
      const size_t i0 = blk0 + kb, i1 = blk1 + kb;
      f.am0 = __fadd_rn(__fmul_rn(dmap[w.codes[i0]], w.dq_scales[i0 / 256]), offset);
      f.am1 = __fadd_rn(__fmul_rn(dmap[w.codes[i1]], w.dq_scales[i1 / 256]), offset);
    } else {
      f.am0 = __ldg(w.absmax + blk0 + kb);
      f.am1 = __ldg(w.absmax + blk1 + kb);
    }
    return f;
  }

  __device__ __forceinline__ Operand expand(const Frag& f) const {
    Operand o;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o.w0[i] = lut[((f.a.x >> (8 * i)) & 0xff) * 32 + lane];
      o.w0[4 + i] = lut[((f.a.y >> (8 * i)) & 0xff) * 32 + lane];
      o.w1[i] = lut[((f.b.x >> (8 * i)) & 0xff) * 32 + lane];
      o.w1[4 + i] = lut[((f.b.y >> (8 * i)) & 0xff) * 32 + lane];
    }
    o.am0 = f.am0;
    o.am1 = f.am1;
    return o;
  }

  __device__ __forceinline__ void mma(float* acc, const Operand& o, int kb, int t) const {
    const int kk = kb * 64 + c * 16;
    const int b = g + 8 * t;
    const bool bin = b < m;
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 xa = bin ? load_x8<__half>(in, norm, b, kk, inv[t]) : zero;
    const uint4 xb = bin ? load_x8<__half>(in, norm, b, kk + 8, inv[t]) : zero;
    const uint32_t xw[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
    float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int j = 0; j < 4; ++j)
      mma_m16n8k16<__half>(tmp, o.w0[2 * j], o.w1[2 * j], o.w0[2 * j + 1], o.w1[2 * j + 1],
                           xw[2 * j], xw[2 * j + 1]);
    acc[0] += tmp[0] * o.am0;
    acc[1] += tmp[1] * o.am0;
    acc[2] += tmp[2] * o.am1;
    acc[3] += tmp[3] * o.am1;
  }
};

template <int NT, GemvOut kOut>
__global__ void __launch_bounds__(kGemvThreads)
    nf4_gemv_kernel(const QMatView w, int m, const GemvIn in, const GemvDst out) {
  __shared__ __align__(16) uint32_t buf[256 * 32];  // LUT, then the cross-warp reduction
  __shared__ float dmap[256];
  for (int i = threadIdx.x; i < 256 * 32; i += blockDim.x) {
    const int e = i >> 5;
    const __half2 h =
        __halves2half2(__float2half_rn(c_codes[e >> 4]), __float2half_rn(c_codes[e & 15]));
    buf[i] = *reinterpret_cast<const uint32_t*>(&h);
  }
  if (w.fmt == QFormat::NF4DQ) dmap[threadIdx.x] = w.dmap[threadIdx.x];  // blockDim == 256
  __syncthreads();

  const GemvTile tl(w.n);
  float acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0.0f;
  gemv_k_loop<NT>(Nf4Weights<NT>(w, m, in, buf, dmap, tl), tl.warp, acc);
  __syncthreads();  // the table is no longer needed: reuse it for the reduction
  sum_over_warps<NT>(acc, reinterpret_cast<float*>(buf), tl);
  if (tl.warp != 0) return;
#pragma unroll
  for (int t = 0; t < NT; ++t) store_tile<__half, kOut>(out, m, tl, t, acc[t]);
}

struct Nf4Launch {
  const QMatView& w;
  int m;
  const GemvIn& in;
  const GemvDst& out;
  cudaStream_t s;
  template <int NT, GemvOut kOut>
  void run() const {
    static_assert(kGemvWarps * NT * 4 * 32 <= 256 * 32, "the reduction reuses the table");
    nf4_gemv_kernel<NT, kOut><<<gemv_grid(w.n), kGemvThreads, 0, s>>>(w, m, in, out);
  }
};

}  // namespace

int nf4_fused_max_batch_limit() {
  return 64;
}

void launch_nf4_gemv(const QMatView& w, int m, const GemvIn& in, const GemvDst& out,
                     cudaStream_t stream, const std::string& step) {
  if (m < 1 || m > nf4_fused_max_batch_limit() || w.k % 64 != 0 || w.fmt == QFormat::Int8 ||
      (out.kind == GemvOut::SwiGLU && w.n % 16 != 0) ||
      (in.rms_gamma != nullptr && (in.xf == nullptr || in.sumsq_in == nullptr)) ||
      (in.rms_gamma == nullptr && in.x == nullptr) || in.ldx % 8 != 0)
    throw_error(cat(step, ": unsupported nf4 gemv m=", m, " n=", w.n, " k=", w.k,
                    " (needs m <= ", nf4_fused_max_batch_limit(), ", k % 64 == 0)"));
  gemv_dispatch<8>(m, out.kind, Nf4Launch{w, m, in, out, stream});
  ECO_LAUNCH_CHECK(step + cat(" (nf4 gemv m=", m, " n=", w.n, " k=", w.k, ")"));
}

}  // namespace eco::engine::cuda
