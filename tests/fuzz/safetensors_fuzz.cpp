// Fuzz target: the safetensors header validator. Any input must either be rejected with
// eco::Error or yield tensors whose every byte lies inside the buffer (ASan checks the reads).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::byte> bytes(size);
  if (size > 0) std::memcpy(bytes.data(), data, size);
  try {
    auto file = eco::model::SafetensorsFile::from_bytes(std::move(bytes), "fuzz.safetensors");
    for (const auto& [name, view] : file->tensors()) {
      if (view.nbytes == 0) continue;
      volatile std::byte first = view.data[0];
      volatile std::byte last = view.data[view.nbytes - 1];
      (void)first;
      (void)last;
      using eco::model::DType;
      if (view.dtype == DType::F32 || view.dtype == DType::F16 || view.dtype == DType::BF16) {
        volatile float a = view.at(0);
        volatile float b = view.at(view.numel() - 1);
        (void)a;
        (void)b;
      }
    }
  } catch (const eco::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}
