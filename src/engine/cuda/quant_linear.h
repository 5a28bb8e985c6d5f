#pragma once
// The quantized formats in the CUDA engine (issue 5): load-time quantization of a linear layer
// on the GPU, and run_quant_linear, the case of run_linear() for int8 / nf4 / nf4-dq, which
// picks the kernels per format and batch size. Paths (quant_path()):
//   int8, fused (default)   m <= 32: device activation quantization + fused int8 GEMV
//                                     (int8 mma, outlier columns in fp16 on the device)
//                           m > 32:  same quantization + cuBLAS IMMA int8 GEMM + fused epilogue
//   int8, reference-bnb     every m: bitsandbytes' control flow (see quant_linear.cpp)
//   nf4, nf4-dq             m <= nf4_fused_max_batch() and k % 64 == 0: fused dequantize-GEMV;
//                           otherwise dequantize to fp16, then the fp16 GEMV / cuBLAS.
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

void run_quant_linear(const LinearWeight& w, int m, const LinearIn& in, const LinearOut& out,
                      bool use_gemv, Blas& blas, cudaStream_t stream, const std::string& step);

// Sizes blas.quant for `rows` token rows of a model with these matrix bounds.
void reserve_quant_scratch(Blas& blas, const quant::FormatSpec& spec, int rows, int kmax, int nmax);

// Short name of the matmul path run_quant_linear takes for this format at batch m (k: in
// features), e.g. "int8-mma-gemv+fused-outliers", "nf4-dequant+cublas".
std::string quant_path(const quant::FormatSpec& spec, int m, int k);
// One line for Engine::describe(): the paths per batch range and the bytes per weight.
std::string describe_quant_paths(const quant::FormatSpec& spec);

// Largest batch that takes the fused NF4 GEMV (default 64, at most 64); benchmarks lower it to
// time the dequantize + cuBLAS path at the same batch.
// reference-bnb host synchronisations of this process (benchmarks): count and the host seconds
// spent blocked in them.
struct QuantSyncStats {
  long long syncs = 0;
  double seconds = 0.0;
};
QuantSyncStats quant_sync_stats();
void reset_quant_sync_stats();

// True when decode steps must be enqueued one by one instead of replayed from a CUDA graph:
// reference-bnb (a host sync per layer cannot be captured), or when a benchmark forces it to
// separate the graph's share from the host synchronisations' share.
bool decode_needs_eager(const quant::FormatSpec& spec);
void set_force_eager_decode(bool on);

// Benchmarks: while on, every LLM.int8() matmul with a threshold copies its outlier-column
// count to the host after quantizing the activations (a synchronisation per layer; use with
// eager decode and prefill only, never inside a CUDA graph). Counts in call order.
void set_collect_outlier_counts(bool on);
std::vector<int> take_outlier_counts();

int nf4_fused_max_batch();
void set_nf4_fused_max_batch(int m);

}  // namespace eco::engine::cuda
