#pragma once
// Owning device allocation (cudaMalloc / cudaFree). Allocation failures throw eco::Error that
// names what was being allocated and how much memory was free.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>

#include "engine/cuda/cuda_check.h"

namespace eco::engine::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t bytes, const std::string& what) { allocate(bytes, what); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }

  void allocate(size_t bytes, const std::string& what) {
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
  void release() {
    if (ptr_) (void)cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  void* get() const { return ptr_; }
  template <typename U>
  U* as() const { return static_cast<U*>(ptr_); }
  size_t bytes() const { return bytes_; }
  explicit operator bool() const { return ptr_ != nullptr; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace eco::engine::cuda
