#pragma once
// Error checking for every CUDA runtime and cuBLAS call of the CUDA engine. A failure throws
// eco::Error naming the step (what the engine was doing, with its sizes) and the CUDA error, so
// that an out-of-memory or a failed launch reads as "prefill: layer 3 qkv gemm (M=512 N=6144
// K=4096): CUBLAS_STATUS_..." instead of a crash.
//
// The .cu files include this header, so it stays free of {fmt} (nvcc would compile the
// header-only library into every kernel file): the throwing functions live in cuda_check.cpp,
// and messages are joined with cat() from strings and numbers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>
#include <type_traits>

namespace eco::engine::cuda {

// Each throws eco::Error: "CUDA error in STEP: NAME (description)", "cuBLAS error in STEP:
// CUBLAS_STATUS_...", or the message as given (which names the input and the fix).
[[noreturn]] void throw_cuda(cudaError_t e, const std::string& step);
[[noreturn]] void throw_cublas(cublasStatus_t s, const std::string& step);
[[noreturn]] void throw_error(const std::string& message);

namespace detail {
std::string format_real(double v);  // shortest round-trip form ("6", "0.25")
inline void append(std::string& s, const std::string& v) {
  s += v;
}
inline void append(std::string& s, const char* v) {
  s += v;
}
template <typename N>
void append(std::string& s, N v) {
  static_assert(std::is_arithmetic_v<N>, "cat() joins strings and numbers");
  if constexpr (std::is_floating_point_v<N>)
    s += format_real(double(v));
  else
    s += std::to_string(v);
}
}  // namespace detail

// The parts, strings and numbers (integers in decimal), joined into one message.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (detail::append(s, parts), ...);
  return s;
}

// `step` is evaluated only on failure, so call sites may build it with cat() or fmt::format.
#define ECO_CUDA_CHECK(call, step)                                                            \
  do {                                                                                        \
    const cudaError_t eco_cuda_err_ = (call);                                                 \
    if (eco_cuda_err_ != cudaSuccess) ::eco::engine::cuda::throw_cuda(eco_cuda_err_, (step)); \
  } while (0)

// After a kernel launch: catches bad launch configurations immediately (asynchronous faults
// surface at the next synchronising call, which is checked too).
#define ECO_LAUNCH_CHECK(step) ECO_CUDA_CHECK(cudaGetLastError(), (step))

#define ECO_CUBLAS_CHECK(call, step)                             \
  do {                                                           \
    const cublasStatus_t eco_cublas_st_ = (call);                \
    if (eco_cublas_st_ != CUBLAS_STATUS_SUCCESS)                 \
      ::eco::engine::cuda::throw_cublas(eco_cublas_st_, (step)); \
  } while (0)

}  // namespace eco::engine::cuda
