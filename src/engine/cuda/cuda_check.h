#pragma once
// Error checking for every CUDA runtime and cuBLAS call of the CUDA engine. A failure throws
// eco::Error naming the step (what the engine was doing, with its sizes) and the CUDA error, so
// that an out-of-memory or a failed launch reads as "prefill: layer 3 qkv gemm (M=512 N=6144
// K=4096): CUBLAS_STATUS_..." instead of a crash.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "common/error.h"

namespace eco::engine::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t e, const std::string& step) {
  fail("CUDA error in {}: {} ({})", step, cudaGetErrorName(e), cudaGetErrorString(e));
}

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_(other)";
  }
}

// `step` is evaluated only on failure, so call sites may build it with fmt::format freely.
#define ECO_CUDA_CHECK(call, step)                                          \
  do {                                                                      \
    const cudaError_t eco_cuda_err_ = (call);                               \
    if (eco_cuda_err_ != cudaSuccess) ::eco::engine::cuda::throw_cuda(eco_cuda_err_, (step)); \
  } while (0)

// After a kernel launch: catches bad launch configurations immediately (asynchronous faults
// surface at the next synchronising call, which is checked too).
#define ECO_LAUNCH_CHECK(step) ECO_CUDA_CHECK(cudaGetLastError(), (step))

#define ECO_CUBLAS_CHECK(call, step)                                                  \
  do {                                                                                \
    const cublasStatus_t eco_cublas_st_ = (call);                                     \
    if (eco_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::eco::fail("cuBLAS error in {}: {}", std::string(step),                        \
                  ::eco::engine::cuda::cublas_status_name(eco_cublas_st_));           \
  } while (0)

}  // namespace eco::engine::cuda
