#pragma once
// One linear layer's weights on the device and the one entry point that multiplies by them.
// The format decides the kernels: fp16/bf16 use the tensor-core GEMV up to gemv_max_batch()
// rows and cuBLAS beyond. Quantized formats (issue 5: int8 with per-row scales, NF4 codes with
// block absmax) add their device fields here and a case in run_linear(); the engine's forward
// pass only ever calls run_linear().
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
  float* sumsq_out = nullptr;  // GEMV AddResidual: next norm's sum of squares
  void* gemm_scratch = nullptr;  // GEMM SwiGLU: [m, n] (fp32 up to kSwigluF32Rows rows, else T)
};

constexpr int kSwigluF32Rows = 256;

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

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
};

// use_gemv: the caller's choice for this forward pass (m <= gemv_max_batch() and the shapes
// allow it). On the GEMM path the input must be T rows (in.x).
void run_linear(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out,
                bool use_gemv, Blas& blas, cudaStream_t stream, const std::string& step);

}  // namespace eco::engine::cuda
