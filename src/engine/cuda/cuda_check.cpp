// The throwing half of cuda_check.h, out of line so that the .cu files need no {fmt}.
#include "engine/cuda/cuda_check.h"

#include <fmt/format.h>

#include "common/error.h"

namespace eco::engine::cuda {

void throw_cuda(cudaError_t e, const std::string& step) {
  fail("CUDA error in {}: {} ({})", step, cudaGetErrorName(e), cudaGetErrorString(e));
}

void throw_cublas(cublasStatus_t s, const std::string& step) {
  fail("cuBLAS error in {}: {}", step, cublasGetStatusName(s));
}

void throw_error(const std::string& message) {
  throw Error(message);
}

namespace detail {
std::string format_real(double v) {
  return fmt::format("{}", v);
}
}  // namespace detail

}  // namespace eco::engine::cuda
