#pragma once
// Element types of stored tensors, and a non-owning view of one tensor in a mapped file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eco::model {

enum class DType { F32, F16, BF16, I8, U8, I32, I64, F64, Bool };

// Bytes per element; throws eco::Error for unknown names in parse_dtype.
size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "F16", "BF16", ...
DType parse_dtype(std::string_view safetensors_name, std::string_view context);

// A tensor inside a memory-mapped safetensors file (or a slice of one, e.g. Phi-3's fused
// qkv_proj split into q, k and v). Row-major; data stays valid while the owning store lives.
struct TensorView {
  std::string name;  // as in the file (slices get a suffix such as "[q]")
  std::string file;  // file it came from, for error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  bool empty() const { return data == nullptr; }
  int64_t numel() const;
  int64_t dim(size_t i) const { return shape.at(i); }
  // Element i converted to float (F32/F16/BF16 only).
  float at(int64_t i) const;
  // Rows [row_begin, row_begin + rows) of a 2-D tensor, or elements of a 1-D one.
  TensorView slice_rows(int64_t row_begin, int64_t rows, std::string_view suffix) const;
};

}  // namespace eco::model
