// device_count(): how many CUDA devices this process can use. Never throws: a machine without a
// driver (CI) reports 0, so `--device auto` falls back to the CPU engine. (A .cpp, not a .cu:
// it includes the C++20 engine headers, and the .cu files are compiled as C++17.)
#include <cuda_runtime_api.h>

#include "engine/cuda/cuda_engine.h"

namespace eco::engine::cuda {

int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error for later callers
    return 0;
  }
  return n;
}

}  // namespace eco::engine::cuda
