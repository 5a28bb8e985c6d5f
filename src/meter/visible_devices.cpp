#include "meter/visible_devices.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace eco::meter {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// NVML index for one entry, or -1 with `why` set.
int resolve(const std::string& entry, const std::vector<std::string>& uuids, std::string& why) {
  if (entry.rfind("MIG-", 0) == 0) {
    why = fmt::format("'{}' is a MIG instance; the meter reads whole GPUs only", entry);
    return -1;
  }
  if (entry.rfind("GPU-", 0) == 0) {
    int found = -1;
    for (size_t i = 0; i < uuids.size(); ++i) {
      if (uuids[i].rfind(entry, 0) == 0) {
        if (found >= 0) {
          why = fmt::format("'{}' matches more than one GPU UUID", entry);
          return -1;
        }
        found = static_cast<int>(i);
      }
    }
    if (found < 0) why = fmt::format("no GPU has a UUID starting with '{}'", entry);
    return found;
  }
  int index = -1;
  const auto [end, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
  if (ec != std::errc() || end != entry.data() + entry.size() || index < 0) {
    why = fmt::format("'{}' is neither a device index nor a GPU UUID", entry);
    return -1;
  }
  if (index >= static_cast<int>(uuids.size())) {
    why = fmt::format("index {} is out of range ({} GPU(s) present)", index, uuids.size());
    return -1;
  }
  return index;
}

}  // namespace

VisibleDevices map_visible_devices(const std::optional<std::string>& env,
                                   const std::vector<std::string>& nvml_uuids) {
  VisibleDevices out;
  if (!env) {
    for (size_t i = 0; i < nvml_uuids.size(); ++i) out.nvml_indices.push_back(static_cast<int>(i));
    return out;
  }
  size_t pos = 0;
  const std::string& list = *env;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string entry = trim(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (entry.empty()) {
      if (comma == list.size() && out.nvml_indices.empty() && trim(list).empty()) break;
      out.note = "CUDA_VISIBLE_DEVICES has an empty entry; later entries ignored, as CUDA does";
      break;
    }
    std::string why;
    const int index = resolve(entry, nvml_uuids, why);
    if (index >= 0 && std::find(out.nvml_indices.begin(), out.nvml_indices.end(), index) !=
                          out.nvml_indices.end()) {
      why = fmt::format("'{}' names a GPU already listed", entry);
    } else if (index >= 0) {
      out.nvml_indices.push_back(index);
      continue;
    }
    out.note =
        fmt::format("CUDA_VISIBLE_DEVICES: {}; it and later entries ignored, as CUDA does", why);
    break;
  }
  return out;
}

}  // namespace eco::meter
