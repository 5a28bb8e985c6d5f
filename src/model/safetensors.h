#pragma once
// Memory-mapped safetensors files: a single model.safetensors or a sharded set listed in
// model.safetensors.index.json. The header is validated in full (dtypes, shapes, offsets
// inside the data section, no overlaps) before any tensor is exposed.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/sigbus_guard.h"
#include "model/dtype.h"

namespace eco::model {

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws eco::Error naming the file (and tensor) on any defect.
  // Only a regular file is opened (a FIFO would block). Should the file shrink while it is
  // mapped, the process ends with an error naming it (common/sigbus_guard.h).
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  // Validates an in-memory image (used by the fuzz target and tests).
  static std::shared_ptr<SafetensorsFile> from_bytes(std::vector<std::byte> bytes,
                                                     const std::string& name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  void parse(const std::byte* base, size_t size);
  void parse_header(const nlohmann::json& root, const std::byte* data, uint64_t data_size);

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::unique_ptr<SigbusGuard> guard_;
  std::vector<std::byte> owned_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model directory, from one file or from the shards of an index.
class TensorStore {
 public:
  static TensorStore open_dir(const std::filesystem::path& model_dir);

  const TensorView* find(const std::string& name) const;
  // Throws eco::Error naming the directory and the tensor when absent.
  const TensorView& get(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*> index_;
  std::vector<std::filesystem::path> files_;
  std::string dir_;
};

}  // namespace eco::model
