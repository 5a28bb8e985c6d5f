#pragma once
// CUDA_VISIBLE_DEVICES -> NVML devices, so that "device 0" in ecocompute is the device a CUDA
// program run beside it calls device 0.
#include <optional>
#include <string>
#include <vector>

namespace eco::meter {

struct VisibleDevices {
  std::vector<int> nvml_indices;  // in CUDA's order
  std::string note;               // why the list stops early (CUDA ignores the rest, so do we)
};

// `env`: the value of CUDA_VISIBLE_DEVICES, or nullopt when unset (every device, NVML order).
// Entries are indices or (prefixes of) UUIDs "GPU-..."; as in CUDA, parsing stops at the first
// entry that is invalid, unknown, ambiguous or repeated. MIG instances are not metered.
VisibleDevices map_visible_devices(const std::optional<std::string>& env,
                                   const std::vector<std::string>& nvml_uuids);

}  // namespace eco::meter
