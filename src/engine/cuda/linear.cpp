#include "engine/cuda/linear.h"

#include <fmt/format.h>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {

Blas::Blas() {
  ECO_CUBLAS_CHECK(cublasCreate(&handle_), "creating the cuBLAS handle");
  // A fixed workspace: cuBLAS then allocates nothing during CUDA-graph capture.
  workspace_.allocate(size_t(32) << 20, "cuBLAS workspace (32 MiB)");
  ECO_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()),
                   "setting the cuBLAS workspace");
  ECO_CUBLAS_CHECK(
      cublasSetMathMode(handle_, cublasMath_t(CUBLAS_DEFAULT_MATH |
                                              CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
      "setting cuBLAS math mode");
}

Blas::~Blas() {
  if (handle_) (void)cublasDestroy(handle_);
}

void Blas::set_stream(cudaStream_t s) {
  ECO_CUBLAS_CHECK(cublasSetStream(handle_, s), "setting the cuBLAS stream");
}

void Blas::gemm(DevType t, int m, int n, int k, const void* x, const void* w, void* out,
                bool out_f32, float beta, const std::string& step) {
  // Row-major out[m, n] = x[m, k] w[n, k]^T is column-major out^T[n, m] = w^T . x with w read
  // as a column-major [k, n] matrix (transposed) and x as a column-major [k, m] one.
  const float alpha = 1.0f;
  const cudaDataType_t dt = t == DevType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  ECO_CUBLAS_CHECK(
      cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, dt, k, x, dt, k, &beta,
                   out, out_f32 ? CUDA_R_32F : dt, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      fmt::format("{} (gemm m={} n={} k={} {})", step, m, n, k, devtype_name(t)));
}

MatmulPath choose_matmul_path(const quant::FormatSpec& format, const CudaPathOptions& paths, int m,
                              int k) {
  switch (format.format) {
    case quant::WeightFormat::Int8:
      if (format.int8_impl == quant::Int8Impl::ReferenceBnb && format.int8_threshold > 0.0f)
        return MatmulPath::Int8ReferenceBnb;
      return m <= int8_gemv_max_batch() ? MatmulPath::Int8Gemv : MatmulPath::Int8CublasGemm;
    case quant::WeightFormat::NF4:
    case quant::WeightFormat::NF4DQ:
      if (k % 64 == 0 && m <= paths.nf4_fused_max_batch && m <= nf4_fused_max_batch_limit())
        return MatmulPath::Nf4Gemv;
      return fused_norm_input(m) ? MatmulPath::Nf4DequantGemv : MatmulPath::Nf4DequantGemm;
    default:
      return fused_norm_input(m) ? MatmulPath::Gemv : MatmulPath::CublasGemm;
  }
}

std::string matmul_path_name(MatmulPath p, const quant::FormatSpec& format) {
  const bool outliers = format.int8_threshold > 0.0f;
  switch (p) {
    case MatmulPath::Gemv:
      return format.name() + "-mma-gemv";
    case MatmulPath::CublasGemm:
      return format.name() + "-cublas-gemm";
    case MatmulPath::Int8Gemv:
      return outliers ? "int8-mma-gemv+fused-outliers" : "int8-mma-gemv";
    case MatmulPath::Int8CublasGemm:
      return outliers ? "int8-cublas-imma+outlier-mma-gemm" : "int8-cublas-imma+dequant-epilogue";
    case MatmulPath::Int8ReferenceBnb:
      return "int8-reference-bnb(host-sync,cublas-imma,fp16-outlier-gemm)";
    case MatmulPath::Nf4Gemv:
      return format.name() + "-fused-mma-gemv";
    case MatmulPath::Nf4DequantGemv:
      return format.name() + "-dequant-fp16+gemv";
    case MatmulPath::Nf4DequantGemm:
      return format.name() + "-dequant-fp16+cublas";
  }
  return "?";
}

std::string describe_matmul_paths(const quant::FormatSpec& format, const CudaPathOptions& paths,
                                  int k) {
  // Every row count up to kScan, grouped into ranges; the last range is open (the choices
  // change only at small batch sizes, all below kScan).
  constexpr int kScan = 1024;
  std::string s;
  int first = 1;
  MatmulPath cur = choose_matmul_path(format, paths, 1, k);
  for (int m = 2; m <= kScan + 1; ++m) {
    const MatmulPath p = m <= kScan ? choose_matmul_path(format, paths, m, k) : cur;
    if (p == cur && m <= kScan) continue;
    if (!s.empty()) s += ", ";
    const std::string range = m > kScan        ? fmt::format("{}+", first)
                              : first == m - 1 ? fmt::format("{}", first)
                                               : fmt::format("{}-{}", first, m - 1);
    s += range + " " + matmul_path_name(cur, format);
    first = m;
    cur = p;
  }
  return s;
}

GemvIn gemv_input(const LinearIn& in, int k) {
  GemvIn g;
  g.x = in.x;
  g.xf = in.resid;
  g.ldx = k;
  g.rms_gamma = in.x ? nullptr : in.rms_gamma;
  g.sumsq_in = in.sumsq;
  g.eps = in.eps;
  return g;
}

GemvDst gemv_dst(const LinearOut& out) {
  return {out.kind, out.y, out.ldy, out.sumsq_out};
}

namespace {

quant::FormatSpec format_of(const LinearWeight& w) {
  return w.qweight ? w.qweight->spec : quant::FormatSpec{w.format};
}

void run_dense_gemv(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out,
                    cudaStream_t stream, const std::string& step) {
  GemvArgs a;
  a.w = w.data;
  a.n = w.n;
  a.k = w.k;
  a.m = m;
  a.in = gemv_input(in, w.k);
  a.out = gemv_dst(out);
  launch_gemv(w.type, a, stream, step);
}

void run_dense_gemm(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out,
                    Blas& blas, cudaStream_t stream, const std::string& step) {
  if (in.x == nullptr) fail("{}: the GEMM path needs normalised T input rows", step);
  switch (out.kind) {
    case GemvOut::StoreT:
      blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, false, 0.0f, step);
      break;
    case GemvOut::StoreF32:
      blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, true, 0.0f, step);
      break;
    case GemvOut::AddResidual:
      blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, true, 1.0f, step);
      break;
    case GemvOut::SwiGLU: {
      // Up to kSwigluF32Rows rows (decode batches) the gate and up values stay fp32 until the
      // gating, as on the GEMV path; long prefills keep them in T to halve that traffic.
      const bool f32 = m <= kSwigluF32Rows;
      blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.gemm_scratch, f32, 0.0f, step);
      launch_swiglu_interleaved(w.type, out.gemm_scratch, f32, m, w.n / 2, out.y, stream, step);
      break;
    }
  }
}

}  // namespace

void run_dense_linear(const LinearWeight& w, bool gemv, int m, const LinearIn& in,
                      const LinearOut& out, Blas& blas, cudaStream_t stream,
                      const std::string& step) {
  if (w.format != quant::WeightFormat::FP16 && w.format != quant::WeightFormat::BF16)
    fail("{}: the CUDA engine has no kernels for format {} yet", step,
         quant::FormatSpec{w.format}.name());
  if (gemv)
    run_dense_gemv(w, m, in, out, stream, step);
  else
    run_dense_gemm(w, m, in, out, blas, stream, step);
}

void run_linear(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out, Blas& blas,
                cudaStream_t stream, const std::string& step) {
  const MatmulPath path = choose_matmul_path(format_of(w), blas.paths, m, w.k);
  switch (path) {
    case MatmulPath::Gemv:
    case MatmulPath::CublasGemm:
      run_dense_linear(w, path == MatmulPath::Gemv, m, in, out, blas, stream, step);
      return;
    default:
      if (!w.qweight)
        fail("{}: internal: quantized path for a layer without quantized weights", step);
      run_quant_linear(w, path, m, in, out, blas, stream, step);
  }
}

}  // namespace eco::engine::cuda
