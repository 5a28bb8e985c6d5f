#include "meter/nvml_sensor.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "meter/visible_devices.h"

namespace eco::meter {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string nvml_library_path(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* env = std::getenv("ECO_NVML_LIBRARY");
  if (env && *env) return env;
  return "libnvidia-ml.so.1";
}

NvmlSensor::NvmlSensor(const std::string& library_path) {
  lib_ = nvml::Library::open(library_path, unavailable_);
  if (!lib_) return;
  nvml::Return rc = lib_->init();
  if (rc != nvml::kSuccess) {
    unavailable_ = lib_->describe("nvmlInit_v2", rc);
    return;
  }
  initialised_ = true;
  char text[nvml::kStringBuffer] = {};
  rc = lib_->system_get_driver_version(text, sizeof text);
  driver_ = rc == nvml::kSuccess
                ? text
                : "unknown (" + lib_->describe("nvmlSystemGetDriverVersion", rc) + ")";

  unsigned count = 0;
  rc = lib_->device_get_count(&count);
  if (rc != nvml::kSuccess) {
    unavailable_ = lib_->describe("nvmlDeviceGetCount_v2", rc);
    return;
  }
  std::vector<std::string> uuids(count);
  for (unsigned i = 0; i < count; ++i) {
    nvml::Device handle = nullptr;
    char uuid[nvml::kStringBuffer] = {};
    if (lib_->device_get_handle_by_index(i, &handle) == nvml::kSuccess &&
        lib_->device_get_uuid(handle, uuid, sizeof uuid) == nvml::kSuccess) {
      uuids[i] = uuid;
    }
  }
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  const VisibleDevices visible =
      map_visible_devices(env ? std::optional<std::string>(env) : std::nullopt, uuids);
  for (size_t v = 0; v < visible.nvml_indices.size(); ++v) {
    probe(static_cast<int>(v), visible.nvml_indices[v]);
    if (!visible.note.empty()) infos_.back().notes.push_back(visible.note);
  }
  if (infos_.empty()) {
    unavailable_ =
        count == 0 ? "NVML reports no NVIDIA GPU"
                   : fmt::format("no NVIDIA GPU visible (CUDA_VISIBLE_DEVICES='{}'{})",
                                 env ? env : "", visible.note.empty() ? "" : "; " + visible.note);
  }
}

NvmlSensor::~NvmlSensor() {
  if (initialised_) lib_->shutdown();
}

namespace {

// One probe call's outcome, recorded on the device: unsupported -> a note naming the call; a lost
// GPU -> the device's error; any other failure -> a note. True on success.
class ProbeCheck {
 public:
  ProbeCheck(const nvml::Library& lib, DeviceInfo& info) : lib_(lib), info_(info) {}
  bool operator()(const char* call, nvml::Return r) const {
    if (r == nvml::kSuccess) return true;
    const std::string msg = lib_.describe(call, r);
    if (r == nvml::kErrorNotSupported) {
      info_.notes.push_back(fmt::format("not supported: {}", msg));
    } else if (info_.error.empty() && r == nvml::kErrorGpuIsLost) {
      info_.error = msg;
    } else {
      info_.notes.push_back(fmt::format("failed: {}", msg));
    }
    return false;
  }

 private:
  const nvml::Library& lib_;
  DeviceInfo& info_;
};

// Name, UUID, power limit and memory: what the device is, for provenance.
void probe_identity(const nvml::Library& lib, nvml::Device h, const ProbeCheck& check,
                    DeviceInfo& info) {
  char text[nvml::kStringBuffer] = {};
  if (check("nvmlDeviceGetName", lib.device_get_name(h, text, sizeof text))) info.name = text;
  char uuid[nvml::kStringBuffer] = {};
  if (check("nvmlDeviceGetUUID", lib.device_get_uuid(h, uuid, sizeof uuid))) info.uuid = uuid;

  unsigned milliwatts = 0;
  info.power_limit_w =
      check("nvmlDeviceGetEnforcedPowerLimit", lib.device_get_enforced_power_limit(h, &milliwatts))
          ? milliwatts / 1000.0
          : kNaN;
  nvml::Memory mem{};
  const bool has_mem = check("nvmlDeviceGetMemoryInfo", lib.device_get_memory_info(h, &mem));
  info.memory_total_mib = has_mem ? mem.total / 1048576.0 : kNaN;
  info.memory_used_mib = has_mem ? mem.used / 1048576.0 : kNaN;
}

// Which readings the device answers: the sampler later asks only for these.
void probe_readings(const nvml::Library& lib, nvml::Device h, const ProbeCheck& check,
                    DeviceInfo& info) {
  unsigned long long mj = 0;
  info.has_energy_counter =
      check("nvmlDeviceGetTotalEnergyConsumption", lib.device_get_total_energy_consumption(h, &mj));
  nvml::FieldValue fields[2] = {};
  fields[0].fieldId = nvml::kFieldPowerInstant;
  fields[1].fieldId = nvml::kFieldPowerAverage;
  if (check("nvmlDeviceGetFieldValues", lib.device_get_field_values(h, 2, fields))) {
    info.has_power_instant =
        check("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", fields[0].nvmlReturn);
    info.has_power_average =
        check("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_AVERAGE)", fields[1].nvmlReturn);
  }
  unsigned milliwatts = 0;
  info.has_power_usage =
      check("nvmlDeviceGetPowerUsage", lib.device_get_power_usage(h, &milliwatts));
  unsigned value = 0;
  info.has_temperature = check("nvmlDeviceGetTemperature",
                               lib.device_get_temperature(h, nvml::kTemperatureGpu, &value));
  info.has_clocks =
      check("nvmlDeviceGetClockInfo(SM)", lib.device_get_clock_info(h, nvml::kClockSm, &value)) &&
      check("nvmlDeviceGetClockInfo(MEM)", lib.device_get_clock_info(h, nvml::kClockMem, &value));
}

// The timeline's power reading and the energy source, from what the device answered.
void choose_sources(DeviceInfo& info) {
  // The instant field is a point reading; nvmlDeviceGetPowerUsage is a 1 s trailing average on
  // Ampere-and-newer boards, so it smears a window's edges (docs/METHODOLOGY.md).
  info.power_source = info.has_power_instant ? "field NVML_FI_DEV_POWER_INSTANT"
                      : info.has_power_usage ? "nvmlDeviceGetPowerUsage"
                                             : "";
  if (!info.has_power_instant && info.has_power_usage) {
    info.notes.push_back(
        "power timeline falls back to nvmlDeviceGetPowerUsage (instant power field unsupported)");
  }
  if (info.has_energy_counter) {
    info.energy_source = "counter";
  } else if (!info.power_source.empty()) {
    info.energy_source = "timeline";
    info.notes.push_back(
        "fallback: no energy counter; energy is integrated from the power timeline");
  } else {
    info.energy_source = "none";
  }
}

}  // namespace

void NvmlSensor::probe(int visible_index, int nvml_index) {
  DeviceInfo info;
  info.index = visible_index;
  info.nvml_index = nvml_index;
  nvml::Device h = nullptr;
  nvml::Return rc = lib_->device_get_handle_by_index(static_cast<unsigned>(nvml_index), &h);
  handles_.push_back(h);
  lost_.emplace_back(rc != nvml::kSuccess);
  if (rc != nvml::kSuccess) {
    info.error = lib_->describe("nvmlDeviceGetHandleByIndex_v2", rc);
    info.energy_source = "none";
    infos_.push_back(info);
    return;
  }
  const ProbeCheck check(*lib_, info);
  probe_identity(*lib_, h, check, info);
  probe_readings(*lib_, h, check, info);
  choose_sources(info);
  if (!info.error.empty()) {
    lost_.back() = true;
    info.energy_source = "none";
  }
  infos_.push_back(info);
}

bool NvmlSensor::succeeded(int device, const char* call, nvml::Return rc,
                           std::vector<std::string>& errors) {
  if (rc == nvml::kSuccess) return true;
  errors.push_back(fmt::format("device {}: {}", device, lib_->describe(call, rc)));
  if (rc == nvml::kErrorGpuIsLost) lost_[static_cast<size_t>(device)] = true;
  return false;
}

Sample NvmlSensor::read(int device, std::vector<std::string>& errors) {
  Sample s;
  s.device = device;
  s.watts = s.avg_watts = s.temperature_c = s.sm_clock_mhz = s.mem_clock_mhz = s.energy_mj = kNaN;
  const DeviceInfo& info = infos_[static_cast<size_t>(device)];
  s.t = steady_seconds();
  if (lost_[static_cast<size_t>(device)]) return s;
  nvml::Device h = handles_[static_cast<size_t>(device)];

  auto ok = [&](const char* call, nvml::Return rc) { return succeeded(device, call, rc, errors); };
  if (info.has_power_instant || info.has_power_average) {
    nvml::FieldValue fields[2] = {};
    fields[0].fieldId = nvml::kFieldPowerInstant;
    fields[1].fieldId = nvml::kFieldPowerAverage;
    s.t = steady_seconds();
    if (ok("nvmlDeviceGetFieldValues", lib_->device_get_field_values(h, 2, fields))) {
      if (info.has_power_instant &&
          ok("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", fields[0].nvmlReturn)) {
        s.watts = nvml::field_as_double(fields[0]) / 1000.0;
      }
      if (info.has_power_average &&
          ok("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_AVERAGE)", fields[1].nvmlReturn)) {
        s.avg_watts = nvml::field_as_double(fields[1]) / 1000.0;
      }
    }
  }
  if (!info.has_power_instant && info.has_power_usage && !lost_[static_cast<size_t>(device)]) {
    unsigned milliwatts = 0;
    s.t = steady_seconds();
    if (ok("nvmlDeviceGetPowerUsage", lib_->device_get_power_usage(h, &milliwatts))) {
      s.watts = milliwatts / 1000.0;
    }
  }
  if (info.has_energy_counter && !lost_[static_cast<size_t>(device)]) {
    unsigned long long mj = 0;
    if (ok("nvmlDeviceGetTotalEnergyConsumption",
           lib_->device_get_total_energy_consumption(h, &mj))) {
      s.energy_mj = static_cast<double>(mj);
    }
  }
  unsigned value = 0;
  if (info.has_temperature && !lost_[static_cast<size_t>(device)] &&
      ok("nvmlDeviceGetTemperature",
         lib_->device_get_temperature(h, nvml::kTemperatureGpu, &value))) {
    s.temperature_c = value;
  }
  if (info.has_clocks && !lost_[static_cast<size_t>(device)]) {
    if (ok("nvmlDeviceGetClockInfo(SM)", lib_->device_get_clock_info(h, nvml::kClockSm, &value))) {
      s.sm_clock_mhz = value;
    }
    if (ok("nvmlDeviceGetClockInfo(MEM)",
           lib_->device_get_clock_info(h, nvml::kClockMem, &value))) {
      s.mem_clock_mhz = value;
    }
  }
  return s;
}

// Two NVML calls (instant power field, energy counter): the polling of aligned windows runs this
// about every millisecond, so nothing else is read.
Sample NvmlSensor::read_counter(int device, std::vector<std::string>& errors) {
  Sample s;
  s.device = device;
  s.watts = s.avg_watts = s.temperature_c = s.sm_clock_mhz = s.mem_clock_mhz = s.energy_mj = kNaN;
  const DeviceInfo& info = infos_[static_cast<size_t>(device)];
  s.t = steady_seconds();
  if (lost_[static_cast<size_t>(device)]) return s;
  nvml::Device h = handles_[static_cast<size_t>(device)];
  auto ok = [&](const char* call, nvml::Return rc) { return succeeded(device, call, rc, errors); };
  if (info.has_power_instant) {
    nvml::FieldValue field = {};
    field.fieldId = nvml::kFieldPowerInstant;
    if (ok("nvmlDeviceGetFieldValues", lib_->device_get_field_values(h, 1, &field)) &&
        ok("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", field.nvmlReturn)) {
      s.watts = nvml::field_as_double(field) / 1000.0;
    }
  }
  unsigned long long mj = 0;
  s.t = steady_seconds();  // the counter read's own start, for timing its changes
  if (info.has_energy_counter && !lost_[static_cast<size_t>(device)] &&
      ok("nvmlDeviceGetTotalEnergyConsumption",
         lib_->device_get_total_energy_consumption(h, &mj))) {
    s.energy_mj = static_cast<double>(mj);
  }
  return s;
}

}  // namespace eco::meter
