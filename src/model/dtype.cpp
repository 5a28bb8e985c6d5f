#include "model/dtype.h"

#include <cstring>

#include "common/error.h"
#include "common/half.h"

namespace eco::model {

namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};

// Spellings as in the safetensors format specification.
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I8, "I8", 1},   {DType::U8, "U8", 1},   {DType::I32, "I32", 4},
    {DType::I64, "I64", 8}, {DType::F64, "F64", 8}, {DType::Bool, "BOOL", 1},
};

const DTypeInfo& info(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d;
  fail("internal: dtype value {} has no entry", int(t));
}

}  // namespace

size_t dtype_size(DType t) {
  return info(t).size;
}

std::string_view dtype_name(DType t) {
  return info(t).name;
}

DType parse_dtype(std::string_view safetensors_name, std::string_view context) {
  for (const auto& d : kDTypes)
    if (d.name == safetensors_name) return d.type;
  std::string known;
  for (const auto& d : kDTypes) {
    if (!known.empty()) known += ", ";
    known += d.name;
  }
  fail("{}: unknown dtype '{}' (known: {})", context, safetensors_name, known);
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float TensorView::at(int64_t i) const {
  const size_t es = dtype_size(dtype);
  if (i < 0 || size_t(i) >= nbytes / es)
    fail("{} ({}): element {} is out of range ({} elements)", name, file, i, nbytes / es);
  // The data section of a safetensors file has no alignment guarantee: read through memcpy.
  const std::byte* p = data + size_t(i) * es;
  switch (dtype) {
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return half_to_float(h);
    }
    case DType::BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16_to_float(b);
    }
    default:
      fail("{} ({}): element access needs F32, F16 or BF16, the tensor is {}", name, file,
           dtype_name(dtype));
  }
}

TensorView TensorView::slice_rows(int64_t row_begin, int64_t rows, std::string_view suffix) const {
  if (shape.empty() || shape.size() > 2)
    fail("{} ({}): row slices need a 1-D or 2-D tensor, shape has {} dimensions", name, file,
         shape.size());
  if (row_begin < 0 || rows < 0 || row_begin + rows > shape[0])
    fail("{} ({}): rows [{}, {}) are outside the tensor's {} rows", name, file, row_begin,
         row_begin + rows, shape[0]);
  const size_t row_bytes = size_t(shape.size() == 2 ? shape[1] : 1) * dtype_size(dtype);
  TensorView v = *this;
  v.name = name + std::string(suffix);
  v.shape[0] = rows;
  v.data = data + size_t(row_begin) * row_bytes;
  v.nbytes = size_t(rows) * row_bytes;
  return v;
}

}  // namespace eco::model
