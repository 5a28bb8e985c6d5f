// Fused NF4 / NF4-DQ dequantize-GEMV: y[m, n] = W[n, :] . x[m, :] for m <= 64, with the 4-bit
// weights expanded to fp16 in registers and multiplied on the tensor cores (mma.m16n8k16, the
// batch as n, as in gemv.cu), so the weights cross the memory bus once at 4.5 (4.13) bits each.
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

constexpr int kWarps = 8;
constexpr int kUnroll = 4;

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

template <int NT, GemvOut kOut>
__global__ void __launch_bounds__(kWarps * 32)
    nf4_gemv_kernel(const QMatView w, int m, const QInput in, const QOut out) {
  __shared__ __align__(16) uint32_t buf[256 * 32];  // LUT, then the cross-warp reduction
  __shared__ float dmap[256];
  const bool dq = w.fmt == QFormat::NF4DQ;
  for (int i = threadIdx.x; i < 256 * 32; i += blockDim.x) {
    const int e = i >> 5;
    const __half2 h =
        __halves2half2(__float2half_rn(c_codes[e >> 4]), __float2half_rn(c_codes[e & 15]));
    buf[i] = *reinterpret_cast<const uint32_t*>(&h);
  }
  if (dq) dmap[threadIdx.x] = w.dmap[threadIdx.x];  // blockDim == 256
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, c = lane & 3;
  const int tile = blockIdx.x;
  const int row0 = tile * 16 + g, row1 = row0 + 8;
  const bool ok0 = row0 < w.n, ok1 = row1 < w.n;
  const int k = w.k, nkb = k / 64;
  const uint8_t* p0 = w.data + size_t(ok0 ? row0 : 0) * (k / 2) + c * 8;
  const uint8_t* p1 = w.data + size_t(ok1 ? row1 : 0) * (k / 2) + c * 8;
  const size_t blk0 = size_t(ok0 ? row0 : 0) * nkb, blk1 = size_t(ok1 ? row1 : 0) * nkb;
  const float offset = dq ? *w.dq_offset : 0.0f;
  const bool norm = in.rms_gamma != nullptr;

  float inv[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const int b = g + 8 * t;
    inv[t] = (norm && b < m) ? row_inv_rms(in, b, k) : 0.0f;
  }
  float acc[NT][4];
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[t][i] = 0.0f;

  const uint2 zero2 = make_uint2(0, 0);
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int kb0 = warp; kb0 < nkb; kb0 += kWarps * kUnroll) {
    uint2 wa[kUnroll], wb[kUnroll];
    float am0[kUnroll], am1[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      const bool valid = kb < nkb;
      wa[u] = (valid && ok0) ? load_stream8(p0 + size_t(kb) * 32) : zero2;
      wb[u] = (valid && ok1) ? load_stream8(p1 + size_t(kb) * 32) : zero2;
      if (!valid) {
        am0[u] = am1[u] = 0.0f;
      } else if (dq) {
        const size_t i0 = blk0 + kb, i1 = blk1 + kb;
        am0[u] = __fadd_rn(__fmul_rn(dmap[w.codes[i0]], w.dq_scales[i0 / 256]), offset);
        am1[u] = __fadd_rn(__fmul_rn(dmap[w.codes[i1]], w.dq_scales[i1 / 256]), offset);
      } else {
        am0[u] = __ldg(w.absmax + blk0 + kb);
        am1[u] = __ldg(w.absmax + blk1 + kb);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int kb = kb0 + u * kWarps;
      if (kb >= nkb) break;
      uint32_t w0[8], w1[8];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        w0[i] = buf[((wa[u].x >> (8 * i)) & 0xff) * 32 + lane];
        w0[4 + i] = buf[((wa[u].y >> (8 * i)) & 0xff) * 32 + lane];
        w1[i] = buf[((wb[u].x >> (8 * i)) & 0xff) * 32 + lane];
        w1[4 + i] = buf[((wb[u].y >> (8 * i)) & 0xff) * 32 + lane];
      }
      const int kk = kb * 64 + c * 16;
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const int b = g + 8 * t;
        const bool bin = b < m;
        const uint4 xa = bin ? load_in8(in, norm, b, kk, inv[t]) : zero;
        const uint4 xb = bin ? load_in8(in, norm, b, kk + 8, inv[t]) : zero;
        const uint32_t xw[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
        float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int j = 0; j < 4; ++j)
          mma_f16(tmp, w0[2 * j], w1[2 * j], w0[2 * j + 1], w1[2 * j + 1], xw[2 * j],
                  xw[2 * j + 1]);
        acc[t][0] += tmp[0] * am0[u];
        acc[t][1] += tmp[1] * am0[u];
        acc[t][2] += tmp[2] * am1[u];
        acc[t][3] += tmp[3] * am1[u];
      }
    }
  }

  __syncthreads();  // the table is no longer needed: reuse it for the reduction
  float(*red)[NT * 4][32] = reinterpret_cast<float(*)[NT * 4][32]>(buf);
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][t * 4 + i][lane] = acc[t][i];
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float s = 0.0f;
#pragma unroll
      for (int x = 0; x < kWarps; ++x) s += red[x][t * 4 + i][lane];
      v[i] = s;
    }
    store_tile<kOut>(out, m, w.n, tile, g, c, t, v);
  }
}

template <int NT>
void launch_nt(const QMatView& w, int m, const QInput& in, const QOut& out, cudaStream_t s) {
  const dim3 grid((w.n + 15) / 16), block(kWarps * 32);
  switch (out.kind) {
    case GemvOut::StoreT:
      nf4_gemv_kernel<NT, GemvOut::StoreT><<<grid, block, 0, s>>>(w, m, in, out);
      break;
    case GemvOut::StoreF32:
      nf4_gemv_kernel<NT, GemvOut::StoreF32><<<grid, block, 0, s>>>(w, m, in, out);
      break;
    case GemvOut::AddResidual:
      nf4_gemv_kernel<NT, GemvOut::AddResidual><<<grid, block, 0, s>>>(w, m, in, out);
      break;
    case GemvOut::SwiGLU:
      nf4_gemv_kernel<NT, GemvOut::SwiGLU><<<grid, block, 0, s>>>(w, m, in, out);
      break;
  }
}

}  // namespace

int nf4_fused_max_batch_limit() {
  return 64;
}

void launch_nf4_gemv(const QMatView& w, int m, const QInput& in, const QOut& out,
                     cudaStream_t stream, const std::string& step) {
  if (m < 1 || m > nf4_fused_max_batch_limit() || w.k % 64 != 0 || w.fmt == QFormat::Int8 ||
      (out.kind == GemvOut::SwiGLU && w.n % 16 != 0) ||
      (in.rms_gamma != nullptr && (in.xf == nullptr || in.sumsq_in == nullptr)) ||
      (in.rms_gamma == nullptr && in.x == nullptr) || in.ldx % 8 != 0)
    throw_error(cat(step, ": unsupported nf4 gemv m=", m, " n=", w.n, " k=", w.k,
                    " (needs m <= ", nf4_fused_max_batch_limit(), ", k % 64 == 0)"));
  if (m <= 8)
    launch_nt<1>(w, m, in, out, stream);
  else if (m <= 16)
    launch_nt<2>(w, m, in, out, stream);
  else if (m <= 32)
    launch_nt<4>(w, m, in, out, stream);
  else
    launch_nt<8>(w, m, in, out, stream);
  ECO_LAUNCH_CHECK(step + cat(" (nf4 gemv m=", m, " n=", w.n, " k=", w.k, ")"));
}

}  // namespace eco::engine::cuda
