#pragma once
// The few NVML entry points the meter uses, loaded at run time with dlopen so that the binary
// needs no NVIDIA driver to build or to run. Prototypes and constants follow NVML's public
// documentation (nvml.h is deliberately not included: it is not on build machines).
#include <memory>
#include <string>

namespace eco::meter::nvml {

using Return = int;  // nvmlReturn_t
constexpr Return kSuccess = 0;
constexpr Return kErrorNotSupported = 3;
constexpr Return kErrorNoPermission = 4;
constexpr Return kErrorGpuIsLost = 15;

struct DeviceSt;
using Device = DeviceSt*;  // nvmlDevice_t

constexpr unsigned kFieldPowerAverage = 185;  // NVML_FI_DEV_POWER_AVERAGE, mW, 1 s average
constexpr unsigned kFieldPowerInstant = 186;  // NVML_FI_DEV_POWER_INSTANT, mW
constexpr int kTemperatureGpu = 0;            // NVML_TEMPERATURE_GPU
constexpr int kClockSm = 1;                   // NVML_CLOCK_SM
constexpr int kClockMem = 2;                  // NVML_CLOCK_MEM
constexpr unsigned kStringBuffer = 96;  // >= NVML_DEVICE_{NAME,UUID}_V2_BUFFER_SIZE, driver 81

enum ValueType : int {  // nvmlValueType_t
  kDouble = 0,
  kUnsignedInt = 1,
  kUnsignedLong = 2,
  kUnsignedLongLong = 3,
  kSignedLongLong = 4,
  kSignedInt = 5,
  kUnsignedShort = 6,
};

union Value {  // nvmlValue_t
  double dVal;
  int siVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  unsigned short usVal;
};

struct FieldValue {  // nvmlFieldValue_t
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;
  long long latencyUsec;
  int valueType;
  Return nvmlReturn;
  Value value;
};
static_assert(sizeof(FieldValue) == 40, "nvmlFieldValue_t is 40 bytes");

struct Memory {  // nvmlMemory_t (v1)
  unsigned long long total, free, used;
};

double field_as_double(const FieldValue& f);

class Library {
 public:
  // Loads `path` (a bare soname is searched the usual way). On failure returns null and sets
  // `why_not` to "<path> not found" or "cannot load <path>: <dlerror>".
  static std::unique_ptr<Library> open(const std::string& path, std::string& why_not);
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  // "nvmlDeviceGetPowerUsage: Not Supported (NVML error 3)"
  std::string describe(const char* call, Return rc) const;

  Return (*init)() = nullptr;
  Return (*shutdown)() = nullptr;
  const char* (*error_string)(Return) = nullptr;
  Return (*system_get_driver_version)(char*, unsigned) = nullptr;
  Return (*device_get_count)(unsigned*) = nullptr;
  Return (*device_get_handle_by_index)(unsigned, Device*) = nullptr;
  Return (*device_get_name)(Device, char*, unsigned) = nullptr;
  Return (*device_get_uuid)(Device, char*, unsigned) = nullptr;
  Return (*device_get_total_energy_consumption)(Device, unsigned long long*) = nullptr;
  Return (*device_get_field_values)(Device, int, FieldValue*) = nullptr;
  Return (*device_get_power_usage)(Device, unsigned*) = nullptr;
  Return (*device_get_temperature)(Device, int, unsigned*) = nullptr;
  Return (*device_get_clock_info)(Device, int, unsigned*) = nullptr;
  Return (*device_get_enforced_power_limit)(Device, unsigned*) = nullptr;
  Return (*device_get_memory_info)(Device, Memory*) = nullptr;

 private:
  Library() = default;
  void* handle_ = nullptr;
};

}  // namespace eco::meter::nvml
