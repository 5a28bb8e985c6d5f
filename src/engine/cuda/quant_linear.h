#pragma once
// The quantized formats in the CUDA engine: load-time quantization of a linear layer on the GPU,
// and run_quant_linear, the quantized cases of run_linear(), which runs the kernels of the path
// choose_matmul_path() picked (linear.h):
//   int8, fused (default)   Int8Gemv: device activation quantization + fused int8 mma GEMV
//                           (outlier columns in fp16 on the device); Int8CublasGemm: the same
//                           quantization + cuBLAS IMMA int8 GEMM + fused epilogue
//   int8, reference-bnb     Int8ReferenceBnb: bitsandbytes' control flow (quant_linear.cpp)
//   nf4, nf4-dq             Nf4Gemv: fused dequantize-GEMV; Nf4Dequant*: dequantize to fp16,
//                           then the fp16 GEMV / cuBLAS.
#include <string>
#include <vector>

#include "engine/cuda/linear.h"
#include "model/dtype.h"

namespace eco::engine::cuda {

// One source tensor of a device linear layer and where its rows go (see RowMap).
struct QuantPart {
  const model::TensorView* view = nullptr;
  RowMap map;
};
// Quantizes the parts (stored F32/F16/BF16) into lw (an [n, k] matrix in spec's format) on the
// device; lw.data stays null. Bytes equal quant::quantize_matrix of the assembled matrix.
void upload_quant_linear(LinearWeight& lw, int n, int k, const quant::FormatSpec& spec,
                         const std::vector<QuantPart>& parts, cudaStream_t stream,
                         const std::string& what);

// Runs `path` (a quantized MatmulPath) for the quantized layer w. With
// blas.paths.count_outliers, LLM.int8() with a threshold also appends the matmul's outlier
// column count to blas.qscratch.stats (a host synchronisation).
void run_quant_linear(const LinearWeight& w, MatmulPath path, int m, const LinearIn& in,
                      const LinearOut& out, Blas& blas, cudaStream_t stream,
                      const std::string& step);

// Sizes blas.quant for `rows` token rows of a model with these matrix bounds.
void reserve_quant_scratch(Blas& blas, const quant::FormatSpec& spec, int rows, int kmax, int nmax);

// One phrase for Engine::describe(): what the format's kernels do and the bytes per weight.
std::string describe_quant_format(const quant::FormatSpec& spec);

// True when decode steps must be enqueued one by one instead of replayed from a CUDA graph:
// reference-bnb (a host sync per layer cannot be captured), counting outlier columns (the
// same), or eager decode asked for (benchmarks separate the graph's share of a penalty).
bool decode_needs_eager(const quant::FormatSpec& spec, const CudaPathOptions& paths);

}  // namespace eco::engine::cuda
