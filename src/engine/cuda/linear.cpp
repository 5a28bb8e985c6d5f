#include "engine/cuda/linear.h"

#include <fmt/format.h>

#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {

Blas::Blas() {
  ECO_CUBLAS_CHECK(cublasCreate(&handle_), "creating the cuBLAS handle");
  // A fixed workspace: cuBLAS then allocates nothing during CUDA-graph capture.
  workspace_.allocate(size_t(32) << 20, "cuBLAS workspace (32 MiB)");
  ECO_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()),
                   "setting the cuBLAS workspace");
  ECO_CUBLAS_CHECK(cublasSetMathMode(handle_, cublasMath_t(CUBLAS_DEFAULT_MATH |
                                                     CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)), "setting cuBLAS math mode");
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
  ECO_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, dt, k, x, dt,
                                k, &beta, out, out_f32 ? CUDA_R_32F : dt, n, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT),
                   fmt::format("{} (gemm m={} n={} k={} {})", step, m, n, k, devtype_name(t)));
}

void run_linear(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out,
                bool use_gemv, Blas& blas, cudaStream_t stream, const std::string& step) {
  if (w.qweight) {
    run_quant_linear(w, m, in, out, use_gemv, blas, stream, step);
    return;
  }
  if (w.format != quant::WeightFormat::FP16 && w.format != quant::WeightFormat::BF16)
    fail("{}: the CUDA engine has no kernels for format {} yet", step,
         quant::FormatSpec{w.format}.name());
  if (use_gemv) {
    GemvArgs a;
    a.w = w.data;
    a.n = w.n;
    a.k = w.k;
    a.m = m;
    a.x = in.x;
    a.xf = in.resid;
    a.ldx = w.k;
    a.rms_gamma = in.rms_gamma;
    a.sumsq_in = in.sumsq;
    a.eps = in.eps;
    a.out = out.kind;
    a.y = out.y;
    a.ldy = out.ldy;
    a.sumsq_out = out.sumsq_out;
    launch_gemv(w.type, a, stream, step);
    return;
  }
  if (in.x == nullptr) fail("{}: the GEMM path needs normalised T input rows", step);
  switch (out.kind) {
    case GemvOut::StoreT: blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, false, 0.0f, step); break;
    case GemvOut::StoreF32: blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, true, 0.0f, step); break;
    case GemvOut::AddResidual: blas.gemm(w.type, m, w.n, w.k, in.x, w.data, out.y, true, 1.0f, step); break;
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

}  // namespace eco::engine::cuda
