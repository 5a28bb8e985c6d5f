#include "engine/cpu/convert.h"

#include <cstring>

#include "common/error.h"
#include "common/half.h"
#include "common/parallel.h"

namespace eco::engine::cpu {

namespace {

float identity(float f) {
  return f;
}

int64_t element_count(const model::TensorView& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

// Reads element i without assuming alignment (safetensors offsets need not be aligned).
template <typename T>
T load(const std::byte* base, int64_t i) {
  T v;
  std::memcpy(&v, base + size_t(i) * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

void require_dense_format(const quant::FormatSpec& format) {
  if (format.quantized())
    fail("format {} is not implemented on the CPU engine yet: use native, fp32, fp16 or bf16",
         format.name());
}

RoundFn rounding_for(const quant::FormatSpec& format) {
  require_dense_format(format);
  switch (format.format) {
    case quant::WeightFormat::FP16:
      return &round_to_half;
    case quant::WeightFormat::BF16:
      return &round_to_bf16;
    default:
      return &identity;
  }
}

std::vector<float> to_fp32(const model::TensorView& t, const quant::FormatSpec& format,
                           int64_t expected_numel) {
  const RoundFn round = rounding_for(format);
  if (t.empty()) fail("tensor '{}' ({}) has no data", t.name, t.file);
  const int64_t n = element_count(t);
  if (expected_numel >= 0 && n != expected_numel)
    fail("tensor '{}' in {} has {} elements, the config implies {}", t.name, t.file, n,
         expected_numel);
  size_t elem = 0;
  switch (t.dtype) {
    case model::DType::F32:
      elem = 4;
      break;
    case model::DType::F16:
    case model::DType::BF16:
      elem = 2;
      break;
    default:
      fail("tensor '{}' in {} has an element type the CPU engine cannot read: use F32, F16 or BF16",
           t.name, t.file);
  }
  if (t.nbytes < size_t(n) * elem)
    fail("tensor '{}' in {} holds {} bytes, its shape needs {}", t.name, t.file, t.nbytes,
         size_t(n) * elem);

  std::vector<float> out(static_cast<size_t>(n));
  const model::DType dtype = t.dtype;
  const std::byte* base = t.data;
  // Large tensors (embeddings of 150k-token vocabularies) convert in parallel.
  parallel_for(
      size_t(n),
      [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          float v;
          if (dtype == model::DType::F32)
            v = load<float>(base, int64_t(i));
          else if (dtype == model::DType::F16)
            v = half_to_float(load<uint16_t>(base, int64_t(i)));
          else
            v = bf16_to_float(load<uint16_t>(base, int64_t(i)));
          out[i] = round(v);
        }
      },
      1 << 16);
  return out;
}

}  // namespace eco::engine::cpu
