#pragma once
// GPU sensor backed by NVML (dlopen'ed). Probes every visible device once: what it supports,
// which power reading feeds the timeline, and whether energy comes from the counter or must be
// integrated (the fallback, recorded in DeviceInfo::notes).
#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "meter/nvml_api.h"
#include "meter/sensor.h"

namespace eco::meter {

// Library path: `configured` if non-empty, else $ECO_NVML_LIBRARY, else "libnvidia-ml.so.1".
std::string nvml_library_path(const std::string& configured);

class NvmlSensor final : public GpuSensor {
 public:
  explicit NvmlSensor(const std::string& library_path);
  ~NvmlSensor() override;

  std::string unavailable_reason() const override { return unavailable_; }
  std::string driver_version() const override { return driver_; }
  std::vector<DeviceInfo> devices() const override { return infos_; }
  Sample read(int device, std::vector<std::string>& errors) override;
  Sample read_counter(int device, std::vector<std::string>& errors) override;

 private:
  void probe(int visible_index, int nvml_index);
  // True on success; otherwise records the NVML message (and a lost GPU, never read again).
  bool succeeded(int device, const char* call, nvml::Return rc, std::vector<std::string>& errors);

  std::unique_ptr<nvml::Library> lib_;
  bool initialised_ = false;
  std::string unavailable_;
  std::string driver_;
  std::vector<DeviceInfo> infos_;
  std::vector<nvml::Device> handles_;
  std::deque<std::atomic<bool>> lost_;  // read and set by the sampler and the polling thread
};

}  // namespace eco::meter
