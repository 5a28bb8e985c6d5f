#pragma once
// Device storage of one quantized linear layer (the buffers of quant::QuantizedMatrix, built on
// the GPU at load time) and the scratch the quantized matmuls share (activation codes, int32
// products, dequantized weights, a cuBLAS handle for the int8 and outlier GEMMs). Plain C++.
#include <cublas_v2.h>

#include <cstddef>
#include <cstdint>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/quant_kernels.h"
#include "quant/format.h"

namespace eco::engine::cuda {

struct QuantWeight {
  quant::FormatSpec spec;  // format, int8 threshold and implementation
  int n = 0, k = 0;
  DeviceBuffer data, absmax, codes, scales, offset, dmap;

  QMatView view() const;
  // What the format costs (quant::quantized_bytes: codes, scales, offset).
  size_t bytes() const;
};

class QuantScratch {
 public:
  QuantScratch() = default;
  ~QuantScratch();
  QuantScratch(const QuantScratch&) = delete;
  QuantScratch& operator=(const QuantScratch&) = delete;

  // Sizes every buffer for `rows` token rows of matrices up to [nmax, kmax]; never shrinks.
  // Allocates, so it must not run during CUDA-graph capture (the engine calls it when it sizes
  // its activations). `wide`: room for a dequantized fp16 [nmax, kmax] weight.
  void reserve(int rows, int kmax, int nmax, bool wide);
  cublasHandle_t handle(cudaStream_t stream);

  int rows = 0, kmax = 0, nmax = 0;
  DeviceBuffer xh, xq, sx, outliers /* [1 + kmax] ints: count, columns */, flags, acc32, outf32, xo,
      wide_buf;
  int* host_outliers = nullptr;  // pinned [1 + kmax] (reference-bnb)
  QuantStats stats;              // reference-bnb synchronisations, counted outlier columns

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace eco::engine::cuda
