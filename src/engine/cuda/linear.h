#pragma once
// One linear layer's weights on the device and the one entry point that multiplies by them.
// The format, the rows of the step and the engine's CudaPathOptions decide the kernels, in one
// place (choose_matmul_path), which run_linear() follows and Engine::describe() reports. The
// engine's forward pass only ever calls run_linear().
#include <cublas_v2.h>

#include <memory>
#include <string>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/kernels.h"
#include "engine/cuda/quant_weight.h"
#include "quant/format.h"

namespace eco::engine::cuda {

struct LinearWeight {
  quant::WeightFormat format = quant::WeightFormat::FP16;
  DevType type = DevType::F16;  // element type of data (fp16/bf16 formats)
  int n = 0, k = 0;             // out_features, in_features
  const void* data = nullptr;   // [n, k] row-major; owned by `storage` or shared (tied lm_head)
  DeviceBuffer storage;
  std::unique_ptr<QuantWeight> qweight;  // int8 / nf4 / nf4-dq (quant_linear.h); data is null

  // Bytes one full pass over the weight reads (the roofline counts this once per step).
  size_t bytes() const { return qweight ? qweight->bytes() : size_t(n) * size_t(k) * 2; }
};

// Where the input rows come from.
struct LinearIn {
  const void* x = nullptr;  // T rows [m, k] (ld k)
  // Or the fp32 residual normalised on the fly (GEMV path only; the GEMM path needs x).
  const float* resid = nullptr;
  const void* rms_gamma = nullptr;
  const float* sumsq = nullptr;
  float eps = 0.0f;
};

struct LinearOut {
  GemvOut kind = GemvOut::StoreT;  // StoreT, StoreF32, AddResidual (fp32 += ), SwiGLU
  void* y = nullptr;
  int ldy = 0;
  float* sumsq_out = nullptr;    // GEMV AddResidual: next norm's sum of squares
  void* gemm_scratch = nullptr;  // GEMM SwiGLU: [m, n] (fp32 up to kSwigluF32Rows rows, else T)
};

constexpr int kSwigluF32Rows = 256;

// The kernels one matmul runs.
enum class MatmulPath {
  Gemv,              // fp16/bf16 tensor-core GEMV (gemv.cu), fused RMSNorm input and epilogues
  CublasGemm,        // fp16/bf16 cuBLAS GEMM (+ SwiGLU kernel)
  Int8Gemv,          // LLM.int8(): device activation quantization + int8 mma GEMV
  Int8CublasGemm,    // the same quantization + cuBLAS IMMA GEMM + fused epilogue
  Int8ReferenceBnb,  // bitsandbytes' control flow (host sync per matmul)
  Nf4Gemv,           // fused NF4 dequantize-GEMV
  Nf4DequantGemv,    // NF4 dequantized to fp16, then the fp16 GEMV
  Nf4DequantGemm,    // NF4 dequantized to fp16, then cuBLAS
};
// The path for `m` rows through a [n, k] weight of `format` (the dense type for fp16/bf16).
MatmulPath choose_matmul_path(const quant::FormatSpec& format, const CudaPathOptions& paths, int m,
                              int k);
// Short stable name, e.g. "fp16-mma-gemv", "int8-mma-gemv+fused-outliers", "nf4-dequant+cublas".
std::string matmul_path_name(MatmulPath p, const quant::FormatSpec& format);
// True when a step of m rows feeds its matmuls the residual normalised on the fly (LinearIn's
// resid/rms_gamma/sumsq): the GEMV paths; the GEMM paths need T rows (LinearIn::x).
inline bool fused_norm_input(int m) {
  return m <= gemv_max_batch();
}
// "rows 1-16: fp16-mma-gemv; 17+: cublas-gemm": the paths for every row count, as ranges.
std::string describe_matmul_paths(const quant::FormatSpec& format, const CudaPathOptions& paths,
                                  int k);

class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  void set_stream(cudaStream_t s);
  // out[m, n] = x[m, k] . w[n, k]^T (+ beta * out when out is fp32)
  void gemm(DevType t, int m, int n, int k, const void* x, const void* w, void* out, bool out_f32,
            float beta, const std::string& step);
  QuantScratch qscratch;  // scratch of the quantized formats' matmuls
  CudaPathOptions paths;  // the engine's path choices (EngineOptions::cuda)

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
};

// The small-batch kernels' views of a layer's input (k columns) and output.
GemvIn gemv_input(const LinearIn& in, int k);
GemvDst gemv_dst(const LinearOut& out);

// A dense (fp16/bf16) layer on the GEMV (gemv) or cuBLAS path; also the second half of the NF4
// dequantize paths.
void run_dense_linear(const LinearWeight& w, bool gemv, int m, const LinearIn& in,
                      const LinearOut& out, Blas& blas, cudaStream_t stream,
                      const std::string& step);
// out = in . w^T on the path choose_matmul_path() gives for this weight and m. The input is the
// residual normalised on the fly when fused_norm_input(m), else T rows (in.x).
void run_linear(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out, Blas& blas,
                cudaStream_t stream, const std::string& step);

}  // namespace eco::engine::cuda
