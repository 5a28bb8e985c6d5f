// Quantization on the GPU at load time, byte for byte the CPU reference of src/quant/
// (docs/FORMATS.md): int8 rows, NF4 blocks of 64, NF4 double quantization of the absmax. Every
// step is a separately rounded IEEE fp32 operation (__fmul_rn / __fadd_rn where nvcc could
// contract an FMA, IEEE division, __float2int_rn), in the order the reference uses.
#include "engine/cuda/common.cuh"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/quant_common.cuh"
#include "quant/nf4.h"

namespace eco::engine::cuda {
namespace {

__constant__ float c_nf4_thresholds[15] = {
    quant::kNF4Thresholds[0],  quant::kNF4Thresholds[1],  quant::kNF4Thresholds[2],
    quant::kNF4Thresholds[3],  quant::kNF4Thresholds[4],  quant::kNF4Thresholds[5],
    quant::kNF4Thresholds[6],  quant::kNF4Thresholds[7],  quant::kNF4Thresholds[8],
    quant::kNF4Thresholds[9],  quant::kNF4Thresholds[10], quant::kNF4Thresholds[11],
    quant::kNF4Thresholds[12], quant::kNF4Thresholds[13], quant::kNF4Thresholds[14]};
__constant__ float c_nf4_codes[16] = {
    quant::kNF4Codes[0],  quant::kNF4Codes[1],  quant::kNF4Codes[2],  quant::kNF4Codes[3],
    quant::kNF4Codes[4],  quant::kNF4Codes[5],  quant::kNF4Codes[6],  quant::kNF4Codes[7],
    quant::kNF4Codes[8],  quant::kNF4Codes[9],  quant::kNF4Codes[10], quant::kNF4Codes[11],
    quant::kNF4Codes[12], quant::kNF4Codes[13], quant::kNF4Codes[14], quant::kNF4Codes[15]};
__constant__ float c_dynamic_map[256];

__device__ __forceinline__ float load_src(SrcType t, const void* p, int64_t i) {
  switch (t) {
    case SrcType::F32:
      return static_cast<const float*>(p)[i];
    case SrcType::F16:
      return __half2float(static_cast<const __half*>(p)[i]);
    default:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
}

__device__ __forceinline__ int64_t map_row(const RowMap& m, int64_t r) {
  return m.group >= (int64_t(1) << 62) ? m.offset + r
                                       : (r / m.group) * m.group_stride + m.offset + r % m.group;
}

__device__ __forceinline__ int8_t round_int8(float v) {
  v = fminf(fmaxf(v, -127.0f), 127.0f);
  return static_cast<int8_t>(__float2int_rn(v));
}

// One warp per row: absmax, then codes (quant::quantize_int8_rows).
__global__ void quantize_int8_kernel(SrcType st, const void* src, int64_t rows, int64_t cols,
                                     RowMap map, int64_t src_first_row, uint8_t* q,
                                     float* row_absmax) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const int64_t base = r * cols;
  float mx = 0.0f;
  for (int64_t c = lane; c < cols; c += 32) mx = fmaxf(mx, fabsf(load_src(st, src, base + c)));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const int64_t dr = map_row(map, src_first_row + r);
  const float inv = mx > 0.0f ? 127.0f / mx : 0.0f;
  int8_t* out = reinterpret_cast<int8_t*>(q) + dr * cols;
  for (int64_t c = lane; c < cols; c += 32)
    out[c] = round_int8(__fmul_rn(load_src(st, src, base + c), inv));
  if (lane == 0) row_absmax[dr] = mx;
}

__device__ __forceinline__ uint8_t nf4_encode_dev(float x) {
  uint8_t code = 0;
#pragma unroll
  for (int i = 0; i < 15; ++i) code += uint8_t(x > c_nf4_thresholds[i]);
  return code;
}

// One warp per 64-block; lane l holds elements 2l and 2l+1 and writes their byte.
__global__ void quantize_nf4_kernel(SrcType st, const void* src, int64_t count, int64_t cols,
                                    RowMap map, int64_t src_first_row, int64_t dst_first,
                                    bool mapped, uint8_t* packed, float* absmax) {
  const int64_t blk = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const int64_t first = blk * 64;
  if (first >= count) return;
  const int64_t i0 = first + 2 * lane, i1 = i0 + 1;
  const float v0 = i0 < count ? load_src(st, src, i0) : 0.0f;
  const float v1 = i1 < count ? load_src(st, src, i1) : 0.0f;
  float mx = fmaxf(fabsf(v0), fabsf(v1));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const float inv = mx > 0.0f ? 1.0f / mx : 0.0f;
  const uint8_t c0 = nf4_encode_dev(__fmul_rn(v0, inv));
  const uint8_t c1 = i1 < count ? nf4_encode_dev(__fmul_rn(v1, inv)) : uint8_t(0);
  int64_t dst;  // flat destination element of `first`
  if (mapped) {
    const int64_t r = first / cols, c = first % cols;
    dst = map_row(map, src_first_row + r) * cols + c;
  } else {
    dst = dst_first + first;
  }
  if (i0 < count) packed[dst / 2 + lane] = uint8_t((c0 << 4) | c1);
  if (lane == 0) absmax[dst / 64] = mx;
}

// Double quantization, step 1: fp64 partial sums of each 256-group in index order.
__global__ void dq_partial_kernel(const float* absmax, int64_t n, double* partial) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t first = g * 256;
  if (first >= n) return;
  const int64_t last = min(first + 256, n);
  double s = 0.0;
  for (int64_t i = first; i < last; ++i) s += double(absmax[i]);
  partial[g] = s;
}
// Step 2: the partials in order (one thread; a few thousand additions).
__global__ void dq_offset_kernel(const double* partial, int64_t groups, int64_t n, float* offset) {
  double t = 0.0;
  for (int64_t g = 0; g < groups; ++g) t += partial[g];
  *offset = float(t / double(n));
}

// bitsandbytes' dQuantize<0> search, as quant::dynamic_encode.
__device__ uint8_t dynamic_encode_dev(float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = c_dynamic_map[pivot];
  for (int step = 64; step >= 1; step >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += step;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= step;
    }
    val = c_dynamic_map[pivot];
  }
  if (upper_pivot == 255) upper = c_dynamic_map[255];
  if (lower_pivot == 0) lower = c_dynamic_map[0];
  if (x > val) {
    const float mid = __fmul_rn(__fadd_rn(upper, val), 0.5f);
    return uint8_t(x > mid ? upper_pivot : pivot);
  }
  const float mid = __fmul_rn(__fadd_rn(lower, val), 0.5f);
  return uint8_t(x < mid ? lower_pivot : pivot);
}

// Step 3: one block of 256 threads per group: centre, group absmax, encode.
__global__ void dq_encode_kernel(const float* absmax, int64_t n, const float* offset,
                                 uint8_t* codes, float* scales) {
  __shared__ float scratch[32];
  const int64_t i = int64_t(blockIdx.x) * 256 + threadIdx.x;
  const float off = *offset;
  const float c = i < n ? __fsub_rn(absmax[i], off) : 0.0f;
  float mx = fabsf(c);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < 8 ? scratch[threadIdx.x] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) scratch[8] = v;
  }
  __syncthreads();
  const float scale = scratch[8];
  if (threadIdx.x == 0) scales[blockIdx.x] = scale;
  if (i >= n) return;
  const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;  // as quant::quantize_blockwise_8bit
  codes[i] = dynamic_encode_dev(__fmul_rn(c, inv));
}

__device__ __forceinline__ float nf4_absmax_dev(const QMatView& w, int64_t b) {
  if (w.fmt == QFormat::NF4DQ)
    return __fadd_rn(__fmul_rn(w.dmap[w.codes[b]], w.dq_scales[b / 256]), *w.dq_offset);
  return w.absmax[b];
}

__global__ void dequantize_f16_kernel(const QMatView w, __half* out) {
  const int64_t n = int64_t(w.n) * w.k;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v;
    if (w.fmt == QFormat::Int8) {
      const int64_t r = i / w.k;
      v = __fmul_rn(__fmul_rn(float(reinterpret_cast<const int8_t*>(w.data)[i]), w.absmax[r]),
                    kQInv127);
    } else {
      const uint8_t byte = w.data[i >> 1];
      const uint8_t code = (i & 1) ? (byte & 0xf) : (byte >> 4);
      v = __fmul_rn(c_nf4_codes[code], nf4_absmax_dev(w, i / 64));
    }
    out[i] = __float2half_rn(v);
  }
}

}  // namespace

void launch_quantize_int8_rows(SrcType src_t, const void* src, int64_t rows, int64_t cols,
                               RowMap map, int64_t src_first_row, uint8_t* q, float* row_absmax,
                               cudaStream_t stream, const std::string& step) {
  if (rows <= 0) return;
  const int warps = 8;
  quantize_int8_kernel<<<unsigned((rows + warps - 1) / warps), warps * 32, 0, stream>>>(
      src_t, src, rows, cols, map, src_first_row, q, row_absmax);
  ECO_LAUNCH_CHECK(step + " (int8 quantization)");
}

void launch_quantize_nf4(SrcType src_t, const void* src, int64_t count, int64_t cols, RowMap map,
                         int64_t src_first_row, int64_t dst_first, uint8_t* packed, float* absmax,
                         cudaStream_t stream, const std::string& step) {
  if (count <= 0) return;
  const bool mapped = cols % 64 == 0;
  if (!mapped && (map.group < (int64_t(1) << 62) || dst_first % 64 != 0))
    throw_error(cat(step, ": NF4 rows of ", cols,
                    " columns (not a multiple of 64) cannot be interleaved or split"));
  const int64_t blocks = (count + 63) / 64;
  const int warps = 8;
  quantize_nf4_kernel<<<unsigned((blocks + warps - 1) / warps), warps * 32, 0, stream>>>(
      src_t, src, count, cols, map, src_first_row, dst_first, mapped, packed, absmax);
  ECO_LAUNCH_CHECK(step + " (nf4 quantization)");
}

void launch_double_quant(const float* absmax, int64_t blocks, uint8_t* codes, float* scales,
                         float* offset, double* partial, cudaStream_t stream,
                         const std::string& step) {
  const int64_t groups = (blocks + 255) / 256;
  dq_partial_kernel<<<unsigned((groups + 127) / 128), 128, 0, stream>>>(absmax, blocks, partial);
  dq_offset_kernel<<<1, 1, 0, stream>>>(partial, groups, blocks, offset);
  dq_encode_kernel<<<unsigned(groups), 256, 0, stream>>>(absmax, blocks, offset, codes, scales);
  ECO_LAUNCH_CHECK(step + " (double quantization)");
}

void upload_dynamic_map(const float* map256, cudaStream_t stream) {
  ECO_CUDA_CHECK(cudaMemcpyToSymbolAsync(c_dynamic_map, map256, 256 * sizeof(float), 0,
                                         cudaMemcpyHostToDevice, stream),
                 "uploading the NF4-DQ dynamic map");
}

void launch_dequantize_f16(const QMatView& w, void* out, cudaStream_t stream,
                           const std::string& step) {
  const int64_t n = int64_t(w.n) * w.k;
  const unsigned grid = unsigned(std::min<int64_t>((n + 255) / 256, 8192));
  dequantize_f16_kernel<<<grid, 256, 0, stream>>>(w, static_cast<__half*>(out));
  ECO_LAUNCH_CHECK(step + " (dequantize to fp16)");
}

}  // namespace eco::engine::cuda
