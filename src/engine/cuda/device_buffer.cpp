#include "engine/cuda/device_buffer.h"

#include "common/error.h"

namespace eco::engine::cuda {

void DeviceBuffer::allocate(size_t bytes, const std::string& what) {
  release();
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    ptr_ = nullptr;
    fail("out of GPU memory allocating {} ({:.1f} MiB; {:.1f} MiB free of {:.1f} MiB): {}", what,
         double(bytes) / 1048576.0, double(free_b) / 1048576.0, double(total_b) / 1048576.0,
         cudaGetErrorString(e));
  }
  bytes_ = bytes;
}

}  // namespace eco::engine::cuda
