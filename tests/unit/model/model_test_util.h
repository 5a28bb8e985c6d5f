#pragma once
// Helpers for the model tests: temporary directories and hand-built safetensors images.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/half.h"
#include "model/dtype.h"

namespace eco::model::testing {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "eco-model-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

inline void write_file(const std::filesystem::path& p, const std::vector<std::byte>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline std::vector<std::byte> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

// 8-byte little-endian header length + header text + `data_bytes` zero bytes.
inline std::vector<std::byte> raw_image(const std::string& header, size_t data_bytes,
                                        uint64_t declared_len) {
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  for (int i = 0; i < 8; ++i) out[size_t(i)] = std::byte(uint8_t(declared_len >> (8 * i)));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}
inline std::vector<std::byte> raw_image(const std::string& header, size_t data_bytes) {
  return raw_image(header, data_bytes, header.size());
}

// Builds a valid safetensors image tensor by tensor (values given as floats, stored in dtype).
class SafetensorsBuilder {
 public:
  SafetensorsBuilder& add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                          const std::vector<float>& values) {
    const size_t es = dtype_size(dtype);
    const size_t begin = data_.size();
    data_.resize(begin + values.size() * es);
    for (size_t i = 0; i < values.size(); ++i) {
      std::byte* p = data_.data() + begin + i * es;
      if (dtype == DType::F32) {
        std::memcpy(p, &values[i], 4);
      } else {
        const uint16_t h =
            dtype == DType::F16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
        std::memcpy(p, &h, 2);
      }
    }
    header_[name] = {{"dtype", std::string(dtype_name(dtype))},
                     {"shape", shape},
                     {"data_offsets", {begin, data_.size()}}};
    return *this;
  }
  // A tensor of the given shape filled with value(i) = base + i * step.
  SafetensorsBuilder& add_ramp(const std::string& name, DType dtype, std::vector<int64_t> shape,
                               float base, float step) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = base + float(i) * step;
    return add(name, dtype, std::move(shape), v);
  }
  nlohmann::json& header() { return header_; }
  std::vector<std::byte> bytes() const {
    const std::string h = header_.dump();
    std::vector<std::byte> out = raw_image(h, data_.size());
    std::memcpy(out.data() + 8 + h.size(), data_.data(), data_.size());
    return out;
  }
  void write(const std::filesystem::path& p) const { write_file(p, bytes()); }

 private:
  nlohmann::json header_ = nlohmann::json::object();
  std::vector<std::byte> data_;
};

}  // namespace eco::model::testing
