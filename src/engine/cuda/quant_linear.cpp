// Host side of the quantized formats in the CUDA engine: load-time quantization on the device,
// the per-format / per-batch choice of kernels, and the reference-bnb control flow.
//
// reference-bnb reproduces what bitsandbytes' MatMul8bitLt does in every linear layer with a
// threshold (its Python control flow, not its kernels): quantize the activations row-wise
// while finding the outlier columns on the device; copy the outlier columns to the host and
// wait for them (torch's argwhere / boolean indexing need the count: a device -> host
// synchronisation per layer); int8 GEMM (cuBLASLt IMMA, int32 out); gather the outlier
// activations and the dequantized outlier weight columns (state.subB = CB[:, idx] * SCB / 127);
// fp16 GEMM of the two; dequantize the int32 product and add. Eight kernels and one sync per
// layer, and no CUDA graph (a host sync cannot be captured), which is the penalty the study
// measured. The fused path computes the same arithmetic without leaving the device.
#include "engine/cuda/quant_linear.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "quant/dynamic_map.h"
#include "quant/quantized_matrix.h"

namespace eco::engine::cuda {

namespace {

QFormat qformat(quant::WeightFormat f) {
  switch (f) {
    case quant::WeightFormat::Int8:
      return QFormat::Int8;
    case quant::WeightFormat::NF4:
      return QFormat::NF4;
    case quant::WeightFormat::NF4DQ:
      return QFormat::NF4DQ;
    default:
      fail("internal: format {} is not quantized", quant::FormatSpec{f}.name());
  }
}

SrcType src_type_of(const model::TensorView& v) {
  switch (v.dtype) {
    case model::DType::F32:
      return SrcType::F32;
    case model::DType::F16:
      return SrcType::F16;
    case model::DType::BF16:
      return SrcType::BF16;
    default:
      fail("{}: tensor '{}' has dtype {}; quantization reads F32, F16 or BF16 weights", v.file,
           v.name, model::dtype_name(v.dtype));
  }
}

bool is_reference_bnb(const quant::FormatSpec& s) {
  return s.format == quant::WeightFormat::Int8 && s.int8_impl == quant::Int8Impl::ReferenceBnb &&
         s.int8_threshold > 0.0f;
}

}  // namespace

bool decode_needs_eager(const quant::FormatSpec& spec, const CudaPathOptions& paths) {
  return paths.eager_decode || paths.count_outliers || is_reference_bnb(spec);
}

QMatView QuantWeight::view() const {
  QMatView v;
  v.fmt = qformat(spec.format);
  v.n = n;
  v.k = k;
  v.data = data.as<uint8_t>();
  v.absmax = absmax.as<float>();
  v.codes = codes.as<uint8_t>();
  v.dq_scales = scales.as<float>();
  v.dq_offset = offset.as<float>();
  v.dmap = dmap.as<float>();
  return v;
}

size_t QuantWeight::bytes() const {
  return quant::quantized_bytes(spec.format, n, k);
}

QuantScratch::~QuantScratch() {
  if (handle_) (void)cublasDestroy(handle_);
  if (host_outliers) (void)cudaFreeHost(host_outliers);
}

cublasHandle_t QuantScratch::handle(cudaStream_t stream) {
  if (!handle_) {
    ECO_CUBLAS_CHECK(cublasCreate(&handle_), "creating the cuBLAS handle of the quantized matmuls");
    workspace_.allocate(size_t(32) << 20, "cuBLAS workspace of the quantized matmuls (32 MiB)");
    ECO_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()),
                     "setting the cuBLAS workspace");
  }
  ECO_CUBLAS_CHECK(cublasSetStream(handle_, stream), "setting the cuBLAS stream");
  return handle_;
}

void QuantScratch::reserve(int r, int km, int nm, bool wide) {
  if (r <= rows && km <= kmax && nm <= nmax && (!wide || wide_buf)) return;
  rows = std::max(rows, r);
  kmax = std::max(kmax, km);
  nmax = std::max(nmax, nm);
  const size_t R = size_t(rows), K = size_t(kmax), N = size_t(nmax);
  const std::string what = fmt::format("quantized-matmul scratch for {} rows", rows);
  xh.allocate(R * K * 2, what);
  xq.allocate(R * K, what);
  sx.allocate(R * 4, what);
  outliers.allocate((K + 1) * 4, what);
  flags.allocate(K, what);
  acc32.allocate(R * N * 4, what);
  outf32.allocate(R * N * 4, what);
  xo.allocate(R * K * 2, what);
  if (wide || wide_buf) wide_buf.allocate(N * K * 2, "dequantized fp16 weight scratch");
  if (host_outliers) (void)cudaFreeHost(host_outliers);
  host_outliers = nullptr;
  ECO_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_outliers), (K + 1) * 4),
                 "pinned outlier column buffer");
  // A model can also be fed when a capture grows nothing: catch cuBLAS's lazy setup here.
  (void)handle(nullptr);
}

void reserve_quant_scratch(Blas& blas, const quant::FormatSpec& spec, int rows, int kmax,
                           int nmax) {
  if (!spec.quantized()) return;
  // Dequantized fp16 weights (nf4 above the fused batch), or the dequantized outlier weight
  // columns of LLM.int8() (reference-bnb's, and the fused path's, transposed).
  const bool wide = spec.format != quant::WeightFormat::Int8 || spec.int8_threshold > 0.0f;
  blas.qscratch.reserve(rows, kmax, nmax, wide);
}

void upload_quant_linear(LinearWeight& lw, int n, int k, const quant::FormatSpec& spec,
                         const std::vector<QuantPart>& parts, cudaStream_t stream,
                         const std::string& what) {
  if (k % 16 != 0)
    fail("{}: {} input features; the CUDA {} kernels need a multiple of 16 (use --device cpu)",
         what, k, spec.name());
  auto q = std::make_unique<QuantWeight>();
  q->spec = spec;
  q->n = n;
  q->k = k;
  const int64_t numel = int64_t(n) * k;
  const bool int8 = spec.format == quant::WeightFormat::Int8;
  const int64_t blocks = (numel + 63) / 64;
  if (int8) {
    q->data.allocate(size_t(numel), what);
    q->absmax.allocate(size_t(n) * 4, what);
  } else {
    q->data.allocate(size_t((numel + 1) / 2), what);
    q->absmax.allocate(size_t(blocks) * 4, what);
  }
  const size_t stage_bytes = size_t(64) << 20;
  DeviceBuffer stage(stage_bytes, "quantization staging buffer");
  for (const auto& p : parts) {
    const model::TensorView& v = *p.view;
    const SrcType st = src_type_of(v);
    const int64_t rows = v.dim(0), cols = v.dim(1);
    if (cols != k) fail("{}: tensor '{}' has {} columns, expected {}", what, v.name, cols, k);
    const size_t row_bytes = size_t(cols) * model::dtype_size(v.dtype);
    int64_t chunk = std::max<int64_t>(1, int64_t(stage_bytes / row_bytes));
    if (!int8 && k % 64 != 0 && chunk < rows)
      fail("{}: tensor '{}' is too large to quantize to NF4 in one piece with {} columns", what,
           v.name, k);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t rc = std::min(chunk, rows - r0);
      // On the engine's stream: a plain cudaMemcpy from pageable memory may return before its
      // DMA lands, and the non-blocking stream would not wait for it.
      ECO_CUDA_CHECK(cudaMemcpyAsync(stage.get(), v.data + size_t(r0) * row_bytes,
                                     size_t(rc) * row_bytes, cudaMemcpyHostToDevice, stream),
                     fmt::format("{}: copying '{}' ({})", what, v.name, v.file));
      if (int8) {
        launch_quantize_int8_rows(st, stage.get(), rc, cols, p.map, r0, q->data.as<uint8_t>(),
                                  q->absmax.as<float>(), stream, what);
      } else {
        launch_quantize_nf4(st, stage.get(), rc * cols, cols, p.map, r0, p.map.offset * cols,
                            q->data.as<uint8_t>(), q->absmax.as<float>(), stream, what);
      }
      ECO_CUDA_CHECK(cudaStreamSynchronize(stream), what);  // the staging buffer is reused
    }
  }
  if (spec.format == quant::WeightFormat::NF4DQ) {
    const int64_t groups = (blocks + 255) / 256;
    upload_dynamic_map(quant::dynamic_map_signed().data(), stream);
    q->codes.allocate(size_t(blocks), what);
    q->scales.allocate(size_t(groups) * 4, what);
    q->offset.allocate(4, what);
    DeviceBuffer partial(size_t(groups) * 8, what);
    launch_double_quant(q->absmax.as<float>(), blocks, q->codes.as<uint8_t>(),
                        q->scales.as<float>(), q->offset.as<float>(), partial.as<double>(), stream,
                        what);
    ECO_CUDA_CHECK(cudaStreamSynchronize(stream), what);
    q->absmax.release();  // the fp32 absmax is not part of the nf4-dq format
  }
  if (spec.format == quant::WeightFormat::NF4DQ) {
    q->dmap.allocate(256 * 4, what);
    ECO_CUDA_CHECK(cudaMemcpyAsync(q->dmap.get(), quant::dynamic_map_signed().data(), 256 * 4,
                                   cudaMemcpyHostToDevice, stream),
                   what);
    ECO_CUDA_CHECK(cudaStreamSynchronize(stream), what);
  }
  lw.format = spec.format;
  lw.type = DevType::F16;
  lw.n = n;
  lw.k = k;
  lw.data = nullptr;
  lw.storage.release();
  lw.qweight = std::move(q);
}

std::string describe_quant_format(const quant::FormatSpec& spec) {
  const double bpw = double(quant::quantized_bytes(spec.format, 4096, 4096)) / (4096.0 * 4096.0);
  std::string s;
  if (spec.format != quant::WeightFormat::Int8) {
    s = fmt::format(
        "{}: fused dequantize-GEMV (fp16 mma, per-block absmax) or dequantize to "
        "fp16 + GEMV/cuBLAS (bitsandbytes' way)",
        spec.name());
  } else if (is_reference_bnb(spec)) {
    s = fmt::format(
        "int8 LLM.int8() threshold {:g}, reference-bnb: quantize + outlier columns on the device, "
        "outlier columns copied to the host with a sync every linear layer, cuBLAS IMMA int8 "
        "GEMM, gathers, fp16 outlier GEMM, dequantize+add; no CUDA graphs",
        spec.int8_threshold);
  } else {
    const bool thr = spec.int8_threshold > 0;
    s = fmt::format(
        "{} threshold {:g}, fused: device activation quantization{}; int8 mma.m16n8k32 GEMV with "
        "fused dequantize{} or cuBLAS IMMA int8 GEMM{} + fused dequantize epilogue",
        thr ? "int8 LLM.int8()" : "int8-pure", spec.int8_threshold,
        thr ? " and outlier detection" : "", thr ? " and fp16 outlier columns" : "",
        thr ? ", fp16 tensor-core outlier GEMM to the device-side count" : "");
  }
  return s + fmt::format("; {:.4f} bytes/weight in the linear layers", bpw);
}

namespace {

// Quantizes the input rows for LLM.int8() (codes, row scales, outlier columns on the device);
// with count_outliers also records the outlier count (a host synchronisation).
Int8Act quantize_int8_input(const QuantWeight& q, int m, const GemvIn& qi, Blas& blas,
                            cudaStream_t stream, const std::string& step) {
  QuantScratch& s = blas.qscratch;
  Int8Act act;
  act.xh = s.xh.get();
  act.xq = s.xq.as<int8_t>();
  act.sx = s.sx.as<float>();
  act.n_outliers = s.outliers.as<int>();
  act.cols = s.outliers.as<int>() + 1;
  act.flags = s.flags.as<uint8_t>();
  const float thr = q.spec.int8_threshold;
  launch_int8_quantize_activations(qi, m, q.k, thr, act, stream, step);
  if (blas.paths.count_outliers && thr > 0.0f) {
    int count = 0;
    ECO_CUDA_CHECK(cudaMemcpyAsync(&count, act.n_outliers, 4, cudaMemcpyDeviceToHost, stream),
                   step + " (outlier count)");
    ECO_CUDA_CHECK(cudaStreamSynchronize(stream), step + " (outlier count)");
    s.stats.outlier_counts.push_back(count);
  }
  return act;
}

// bitsandbytes: the outlier columns go to the host before anything can use them. Returns their
// count; the host time blocked is added to the statistics.
int outlier_columns_to_host(const QuantWeight& q, QuantScratch& s, cudaStream_t stream,
                            const std::string& step) {
  ECO_CUDA_CHECK(cudaMemcpyAsync(s.host_outliers, s.outliers.get(), size_t(q.k + 1) * 4,
                                 cudaMemcpyDeviceToHost, stream),
                 step + " (outlier columns to the host)");
  const auto t0 = std::chrono::steady_clock::now();
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream), step + " (outlier columns sync)");
  s.stats.sync_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++s.stats.syncs;
  return s.host_outliers[0];
}

// The large-batch and reference-bnb int8 paths: cuBLAS IMMA GEMM (int32), the outlier product
// (reference-bnb: gathers + fp16 GEMM of the host-known count; fused: the device-count product)
// and the dequantize epilogue.
void run_int8_gemm(const QuantWeight& q, bool ref, int m, const Int8Act& act, const GemvDst& qo,
                   Blas& blas, cudaStream_t stream, const std::string& step) {
  QuantScratch& s = blas.qscratch;
  const QMatView v = q.view();
  const int n_out = ref ? outlier_columns_to_host(q, s, stream, step) : 0;
  cublasHandle_t h = s.handle(stream);
  const int32_t ione = 1, izero = 0;
  ECO_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, q.n, m, q.k, &ione, v.data, CUDA_R_8I,
                                q.k, act.xq, CUDA_R_8I, q.k, &izero, s.acc32.get(), CUDA_R_32I, q.n,
                                CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT),
                   fmt::format("{} (int8 gemm m={} n={} k={})", step, m, q.n, q.k));
  const float* outlier_f32 = nullptr;
  if (ref && n_out > 0) {
    launch_gather_x_cols(act.xh, m, q.k, act.cols, n_out, s.xo.get(), stream, step);
    launch_gather_w_cols(v, act.cols, n_out, s.wide_buf.get(), stream, step);
    const float one = 1.0f, zero = 0.0f;
    ECO_CUBLAS_CHECK(
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, q.n, m, n_out, &one, s.wide_buf.get(), CUDA_R_16F,
                     n_out, s.xo.get(), CUDA_R_16F, n_out, &zero, s.outf32.get(), CUDA_R_32F, q.n,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        fmt::format("{} (outlier gemm m={} n={} k={})", step, m, q.n, n_out));
    outlier_f32 = s.outf32.as<float>();
  }
  const bool fused_outliers = !ref && q.spec.int8_threshold > 0.0f;
  int splits = 1;
  if (fused_outliers) {
    splits = launch_int8_outlier_product(v, m, act, s.xo.get(), s.wide_buf.get(),
                                         s.outf32.as<float>(), s.outf32.bytes() / 4, stream, step);
    outlier_f32 = s.outf32.as<float>();
  }
  launch_int8_dequant_epilogue(s.acc32.as<int32_t>(), m, v, act, outlier_f32, splits,
                               fused_outliers, qo, stream, step);
}

}  // namespace

void run_quant_linear(const LinearWeight& w, MatmulPath path, int m, const LinearIn& in,
                      const LinearOut& out, Blas& blas, cudaStream_t stream,
                      const std::string& step) {
  if (!w.qweight) fail("{}: internal: quantized layer without device buffers", step);
  const QuantWeight& q = *w.qweight;
  QuantScratch& s = blas.qscratch;
  if (m > s.rows || q.k > s.kmax || q.n > s.nmax)
    fail(
        "{}: internal: quantized-matmul scratch sized for {} rows of [{} x {}], asked {} rows of "
        "[{} x {}]",
        step, s.rows, s.nmax, s.kmax, m, q.n, q.k);
  const GemvIn qi = gemv_input(in, q.k);
  const GemvDst qo = gemv_dst(out);
  switch (path) {
    case MatmulPath::Int8Gemv: {
      const Int8Act act = quantize_int8_input(q, m, qi, blas, stream, step);
      launch_int8_gemv(q.view(), m, act, q.spec.int8_threshold > 0.0f, qo, stream, step);
      return;
    }
    case MatmulPath::Int8CublasGemm:
    case MatmulPath::Int8ReferenceBnb: {
      const Int8Act act = quantize_int8_input(q, m, qi, blas, stream, step);
      run_int8_gemm(q, path == MatmulPath::Int8ReferenceBnb, m, act, qo, blas, stream, step);
      return;
    }
    case MatmulPath::Nf4Gemv:
      launch_nf4_gemv(q.view(), m, qi, qo, stream, step);
      return;
    case MatmulPath::Nf4DequantGemv:
    case MatmulPath::Nf4DequantGemm: {
      if (!s.wide_buf) fail("{}: internal: no room for the dequantized weight", step);
      launch_dequantize_f16(q.view(), s.wide_buf.get(), stream, step);
      LinearWeight dense;
      dense.format = quant::WeightFormat::FP16;
      dense.type = DevType::F16;
      dense.n = q.n;
      dense.k = q.k;
      dense.data = s.wide_buf.get();
      run_dense_linear(dense, path == MatmulPath::Nf4DequantGemv, m, in, out, blas, stream, step);
      return;
    }
    default:
      fail("{}: internal: {} is not a path of format {}", step, matmul_path_name(path, q.spec),
           q.spec.name());
  }
}

}  // namespace eco::engine::cuda
