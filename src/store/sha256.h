#pragma once
// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, used to fingerprint model weight files in
// the study provenance.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace eco::store {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> digest();  // finalizes; the object must not be updated afterwards
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

std::string sha256_hex(std::string_view data);
// Streams the file; throws eco::Error naming the file when it cannot be read (or is not a
// regular file: a FIFO would block).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace eco::store
