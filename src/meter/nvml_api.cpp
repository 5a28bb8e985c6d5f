#include "meter/nvml_api.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <fmt/format.h>

namespace eco::meter::nvml {

double field_as_double(const FieldValue& f) {
  switch (f.valueType) {
    case kDouble:
      return f.value.dVal;
    case kUnsignedInt:
      return f.value.uiVal;
    case kUnsignedLong:
      return static_cast<double>(f.value.ulVal);
    case kUnsignedLongLong:
      return static_cast<double>(f.value.ullVal);
    case kSignedLongLong:
      return static_cast<double>(f.value.sllVal);
    case kSignedInt:
      return f.value.siVal;
    case kUnsignedShort:
      return f.value.usVal;
    default:
      return f.value.uiVal;  // power fields are documented as unsigned int
  }
}

std::unique_ptr<Library> Library::open(const std::string& path, std::string& why_not) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    const std::string detail = err ? err : "unknown dlopen error";
    struct stat st {};
    const bool has_slash = path.find('/') != std::string::npos;
    const bool missing = has_slash
                             ? ::stat(path.c_str(), &st) != 0
                             : detail.find("No such file") != std::string::npos ||
                                   detail.find("cannot open shared object") != std::string::npos;
    why_not = missing ? fmt::format("{} not found", path)
                      : fmt::format("cannot load {}: {}", path, detail);
    return nullptr;
  }
  std::unique_ptr<Library> lib(new Library());
  lib->handle_ = handle;
  std::string missing;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
    if (!fn) missing += missing.empty() ? name : fmt::format(", {}", name);
  };
  bind(lib->init, "nvmlInit_v2");
  bind(lib->shutdown, "nvmlShutdown");
  bind(lib->error_string, "nvmlErrorString");
  bind(lib->system_get_driver_version, "nvmlSystemGetDriverVersion");
  bind(lib->device_get_count, "nvmlDeviceGetCount_v2");
  bind(lib->device_get_handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  bind(lib->device_get_name, "nvmlDeviceGetName");
  bind(lib->device_get_uuid, "nvmlDeviceGetUUID");
  bind(lib->device_get_total_energy_consumption, "nvmlDeviceGetTotalEnergyConsumption");
  bind(lib->device_get_field_values, "nvmlDeviceGetFieldValues");
  bind(lib->device_get_power_usage, "nvmlDeviceGetPowerUsage");
  bind(lib->device_get_temperature, "nvmlDeviceGetTemperature");
  bind(lib->device_get_clock_info, "nvmlDeviceGetClockInfo");
  bind(lib->device_get_enforced_power_limit, "nvmlDeviceGetEnforcedPowerLimit");
  bind(lib->device_get_memory_info, "nvmlDeviceGetMemoryInfo");
  if (!missing.empty()) {
    why_not = fmt::format("{} lacks {} (driver too old? the meter needs NVML from driver >= 450)",
                          path, missing);
    return nullptr;  // the destructor closes the handle
  }
  return lib;
}

Library::~Library() {
  if (handle_) dlclose(handle_);
}

std::string Library::describe(const char* call, Return rc) const {
  const char* text = error_string ? error_string(rc) : nullptr;
  return fmt::format("{}: {} (NVML error {})", call, text ? text : "unknown error", rc);
}

}  // namespace eco::meter::nvml
