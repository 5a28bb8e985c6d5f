#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "model/json_input.h"

namespace eco::model {

using json = nlohmann::json;

namespace {

// The safetensors reference implementation refuses headers above 100 MB; so do we, before
// handing any of it to the JSON parser.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Returns the offset of the first byte that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or n if none.
size_t first_invalid_utf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return i;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return i;
    i += len;
  }
  return n;
}

// A non-negative JSON integer as uint64, or nullopt for anything else.
std::optional<uint64_t> as_count(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return uint64_t(v.get<int64_t>());
  return std::nullopt;
}

struct Span {
  uint64_t begin, end;
  const std::string* name;
};

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const int fd = open_regular_file(path, "safetensors file");
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = size_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(
        "{}: {} bytes is too short for a safetensors file (it starts with an 8-byte header "
        "length); the file is truncated or not safetensors",
        path.string(), size);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) fail("{}: cannot map ({})", path.string(), std::strerror(map_errno));
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path.string();
  f->map_ = map;
  f->map_size_ = size;
  f->guard_ = std::make_unique<SigbusGuard>(map, size, f->path_);
  f->parse(static_cast<const std::byte*>(map), size);  // on error, ~SafetensorsFile unmaps
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(std::vector<std::byte> bytes,
                                                             const std::string& name) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  f->owned_ = std::move(bytes);
  f->parse(f->owned_.data(), f->owned_.size());
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  guard_.reset();  // before the range can be reused by another mapping
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::parse(const std::byte* base, size_t size) {
  if (size < 8)
    fail(
        "{}: {} bytes is too short for a safetensors file (it starts with an 8-byte header "
        "length); the file is truncated or not safetensors",
        path_, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint64_t(base[i]);
  if (header_len > size - 8)
    fail(
        "{}: header length {} runs past the end of the file ({} bytes): the file is truncated "
        "or not safetensors",
        path_, header_len, size);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the 100 MB limit: not a valid safetensors file", path_,
         header_len);
  const auto* header = reinterpret_cast<const unsigned char*>(base + 8);
  const size_t bad = first_invalid_utf8(header, size_t(header_len));
  if (bad != header_len)
    fail(
        "{}: header is not valid UTF-8 (byte {} of the header): the file is corrupt or not "
        "safetensors",
        path_, bad);

  const json root =
      parse_json_text(std::string_view(reinterpret_cast<const char*>(header), header_len),
                      path_ + ": header", ": the file is corrupt or not safetensors");
  try {
    parse_header(root, base + 8 + header_len, uint64_t(size) - 8 - header_len);
  } catch (const json::exception& e) {
    fail("{}: header has unexpected content ({}): the file is corrupt or not safetensors", path_,
         e.what());
  }
}

void SafetensorsFile::parse_header(const nlohmann::json& root, const std::byte* data,
                                   uint64_t data_size) {
  if (!root.is_object())
    fail("{}: header must be a JSON object, found {}", path_, root.type_name());

  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;
  std::vector<Span> spans;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        fail("{}: __metadata__ must be an object of strings, found {}", path_, entry.type_name());
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string())
          fail("{}: __metadata__ entry '{}' must be a string, found {}", path_, k, v.type_name());
        metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", path_, name);
    if (!entry.is_object())
      fail("{}: entry must be an object with dtype, shape, data_offsets; found {}", where,
           entry.type_name());
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string())
      fail("{}: 'dtype' is missing or not a string", where);
    if (sh == entry.end() || !sh->is_array()) fail("{}: 'shape' is missing or not an array", where);
    if (off == entry.end() || !off->is_array() || off->size() != 2)
      fail("{}: 'data_offsets' must be an array [begin, end]", where);

    TensorView v;
    v.name = name;
    v.file = path_;
    v.dtype = parse_dtype(dt->get<std::string>(), where);
    const uint64_t elem = dtype_size(v.dtype);
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      const auto n = as_count(d);
      if (!n) fail("{}: shape entries must be non-negative integers, found {}", where, d.dump());
      // Keep numel * element size below 2^62 so no later size computation can overflow.
      if (*n != 0 && numel > (uint64_t(1) << 62) / elem / *n)
        fail("{}: shape {} has too many elements", where, sh->dump());
      numel *= *n;
      v.shape.push_back(int64_t(*n));
    }
    const auto begin = as_count((*off)[0]);
    const auto end = as_count((*off)[1]);
    if (!begin || !end) fail("{}: data_offsets must be non-negative integers", where);
    if (*begin > *end) fail("{}: data_offsets [{}, {}] end before they begin", where, *begin, *end);
    if (*end > data_size)
      fail(
          "{}: data_offsets [{}, {}] run past the data section ({} bytes): the file is "
          "truncated or corrupt",
          where, *begin, *end, data_size);
    if (*end - *begin != numel * elem)
      fail("{}: data_offsets span {} bytes but shape {} of {} needs {} bytes", where, *end - *begin,
           sh->dump(), dtype_name(v.dtype), numel * elem);
    v.data = data + *begin;
    v.nbytes = size_t(*end - *begin);
    auto [it, inserted] = tensors.emplace(name, std::move(v));
    spans.push_back({*begin, *end, &it->first});
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i - 1].end > spans[i].begin)
      fail("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap: the file is corrupt", path_,
           *spans[i - 1].name, spans[i - 1].begin, spans[i - 1].end, *spans[i].name, spans[i].begin,
           spans[i].end);

  tensors_ = std::move(tensors);
  metadata_ = std::move(metadata);
}

// ---- TensorStore ---------------------------------------------------------------------------

TensorStore TensorStore::open_dir(const std::filesystem::path& model_dir) {
  namespace fs = std::filesystem;
  TensorStore store;
  store.dir_ = model_dir.string();
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail("{}: not a directory", model_dir.string());

  const fs::path single = model_dir / "model.safetensors";
  const fs::path index_path = model_dir / "model.safetensors.index.json";
  if (fs::exists(single, ec)) {
    store.shards_.push_back(SafetensorsFile::open(single));
    store.files_.push_back(single);
    for (const auto& [name, view] : store.shards_[0]->tensors()) store.index_[name] = &view;
    return store;
  }
  if (!fs::exists(index_path, ec)) {
    std::string hint;
    if (fs::exists(model_dir / "pytorch_model.bin", ec) ||
        fs::exists(model_dir / "pytorch_model.bin.index.json", ec))
      hint = "; it has PyTorch .bin weights: re-save the model with safe_serialization=True";
    fail("{}: no model.safetensors or model.safetensors.index.json found{}", model_dir.string(),
         hint);
  }

  const json index = read_json_file(index_path, kMaxIndexBytes, "model.safetensors.index.json");
  const std::string where = index_path.string();
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail("{}: must be an object with a 'weight_map' object (tensor name -> shard file)", where);
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      fail("{}: weight_map entry for tensor '{}' must be a file name, found {}", where, tensor,
           shard.type_name());
    const std::string file = shard.get<std::string>();
    // Shards live beside the index: refuse paths that would reach elsewhere.
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      fail("{}: tensor '{}' maps to '{}', which is not a file name in the model directory", where,
           tensor, file);
    weight_map[tensor] = file;
    if (shards.count(file)) continue;
    const fs::path shard_path = model_dir / file;
    if (!fs::exists(shard_path, ec))
      fail("{}: shard '{}' (listed for tensor '{}') does not exist in {}", where, file, tensor,
           model_dir.string());
    shards[file] = SafetensorsFile::open(shard_path);
  }
  if (weight_map.empty()) fail("{}: weight_map is empty", where);
  for (const auto& [file, shard] : shards) {
    store.shards_.push_back(shard);
    store.files_.push_back(model_dir / file);
  }
  for (const auto& [tensor, file] : weight_map) {
    const TensorView* view = shards.at(file)->find(tensor);
    if (view == nullptr)
      fail("{}: tensor '{}' is mapped to shard '{}', but that file has no such tensor", where,
           tensor, file);
    store.index_[tensor] = view;
  }
  return store;
}

const TensorView* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& TensorStore::get(const std::string& name) const {
  const TensorView* v = find(name);
  if (v == nullptr) fail("{}: tensor '{}' not found in the model's safetensors", dir_, name);
  return *v;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

}  // namespace eco::model
