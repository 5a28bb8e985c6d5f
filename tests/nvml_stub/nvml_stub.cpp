// Stand-in libnvidia-ml.so.1 for tests. Everything it returns comes from a script:
//
//   driver 555.42.06
//   device name=NVIDIA_H100_80GB_HBM3 uuid=GPU-0000-aaaa limit=700 memory=81559 period_ms=1
//   device period_ms=100 phase_ms=37 jitter_ms=4   # counter changes at 37 + 100 k + [0, 4) ms
//   device period_ms=100 power_refresh_ms=100      # instant power holds its value 100 ms (H200)
//   power 0  0 100  0.3 400  0.6 200     # device 0: (seconds, watts) points, linear between
//   temp 0 45                            # device 0 temperature, C (default 40)
//   reset 0 0.25                         # device 0 energy counter restarts from 0 at 0.25 s
//   error energy NOT_SUPPORTED dev=1     # a call fails: always, or within [from, until) s
//   error energy GPU_IS_LOST dev=0 from=0.2
//   init_error DRIVER_NOT_LOADED
//
// Lines come from the file named by ECO_NVML_STUB_TRACE, or from ECO_NVML_STUB_SCRIPT, where ';'
// also ends a line. Underscores in a name become spaces. Script time 0 is ECO_NVML_STUB_EPOCH
// (steady clock seconds, the clock the meter uses) or else the first nvmlInit_v2. The energy
// counter is the exact integral of the power, refreshed every period_ms (at phase_ms + k period,
// each change late by a fixed pseudo-random part of jitter_ms < period_ms), plus a fixed offset
// (energy "since driver load"). Calls: init count handle name uuid driver energy fields instant
// average usage temperature clock limit memory. Codes: NOT_SUPPORTED GPU_IS_LOST NO_PERMISSION
// DRIVER_NOT_LOADED UNKNOWN UNINITIALIZED INVALID_ARGUMENT NOT_FOUND.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#define NVML_STUB_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using Return = int;
constexpr Return kSuccess = 0, kUninitialized = 1, kInvalidArgument = 2, kNotSupported = 3,
                 kNoPermission = 4, kNotFound = 6, kInsufficientSize = 7, kDriverNotLoaded = 9,
                 kGpuIsLost = 15, kUnknown = 999;
constexpr double kCounterOffsetMj = 7.5e9;

const std::map<std::string, Return>& codes() {
  static const std::map<std::string, Return> m = {{"NOT_SUPPORTED", kNotSupported},
                                                  {"GPU_IS_LOST", kGpuIsLost},
                                                  {"NO_PERMISSION", kNoPermission},
                                                  {"DRIVER_NOT_LOADED", kDriverNotLoaded},
                                                  {"UNKNOWN", kUnknown},
                                                  {"UNINITIALIZED", kUninitialized},
                                                  {"INVALID_ARGUMENT", kInvalidArgument},
                                                  {"NOT_FOUND", kNotFound}};
  return m;
}

struct Device {
  std::string name = "Stand-in GPU";
  std::string uuid;
  double limit_w = 700;
  double memory_mib = 81559;
  double period_s = 0.001;
  double phase_s = 0;
  double jitter_s = 0;
  double power_refresh_s = 0;  // > 0: the instant field shows the power at its last refresh
  double temperature_c = 40;
  std::vector<std::pair<double, double>> power = {{0.0, 100.0}};
  std::vector<double> resets;
};

struct Fault {
  std::string call;
  Return code = kUnknown;
  int device = -1;  // -1: every device
  double from = -1e300, until = 1e300;
};

struct State {
  int refs = 0;
  double epoch = 0;
  std::string driver = "999.99.99-stand-in";
  Return init_error = kSuccess;
  std::vector<Device> devices;
  std::vector<Fault> faults;
};

State g;

double steady_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
double script_now() {
  return steady_now() - g.epoch;
}

std::string spaces(std::string s) {
  for (char& c : s) c = c == '_' ? ' ' : c;
  return s;
}

bool parse_line(const std::string& line, std::string& why) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word) || word[0] == '#') return true;
  if (word == "driver") {
    in >> g.driver;
  } else if (word == "device") {
    Device d;
    d.uuid = "GPU-00000000-0000-0000-0000-" + std::to_string(100000000000 + g.devices.size());
    std::string kv;
    while (in >> kv) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return why = "expected key=value: " + kv, false;
      const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
      if (k == "name")
        d.name = spaces(v);
      else if (k == "uuid")
        d.uuid = v;
      else if (k == "limit")
        d.limit_w = std::stod(v);
      else if (k == "memory")
        d.memory_mib = std::stod(v);
      else if (k == "period_ms")
        d.period_s = std::stod(v) / 1000.0;
      else if (k == "phase_ms")
        d.phase_s = std::stod(v) / 1000.0;
      else if (k == "jitter_ms")
        d.jitter_s = std::stod(v) / 1000.0;
      else if (k == "power_refresh_ms")
        d.power_refresh_s = std::stod(v) / 1000.0;
      else
        return why = "unknown device key: " + k, false;
    }
    if (!(d.jitter_s >= 0 && d.jitter_s < d.period_s) && d.jitter_s != 0)
      return why = "jitter_ms must be >= 0 and below period_ms", false;
    g.devices.push_back(d);
  } else if (word == "power" || word == "temp" || word == "reset") {
    size_t dev = 0;
    if (!(in >> dev) || dev >= g.devices.size()) return why = "bad device index", false;
    Device& d = g.devices[dev];
    if (word == "temp") {
      in >> d.temperature_c;
    } else if (word == "reset") {
      double t = 0;
      in >> t;
      d.resets.push_back(t);
    } else {
      d.power.clear();
      double t = 0, w = 0;
      while (in >> t >> w) d.power.emplace_back(t, w);
      if (d.power.empty()) return why = "power needs (seconds watts) pairs", false;
    }
  } else if (word == "error" || word == "init_error") {
    Fault f;
    std::string code;
    if (word == "error")
      in >> f.call;
    else
      f.call = "init";
    in >> code;
    if (!codes().count(code)) return why = "unknown error code: " + code, false;
    f.code = codes().at(code);
    std::string kv;
    while (in >> kv) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return why = "expected key=value: " + kv, false;
      const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
      if (k == "dev")
        f.device = std::stoi(v);
      else if (k == "from")
        f.from = std::stod(v);
      else if (k == "until")
        f.until = std::stod(v);
      else
        return why = "unknown error key: " + k, false;
    }
    g.faults.push_back(f);
  } else {
    return why = "unknown directive: " + word, false;
  }
  return true;
}

Return load_script() {
  g = State{};
  g.refs = 0;
  std::string text;
  if (const char* path = std::getenv("ECO_NVML_STUB_TRACE"); path && *path) {
    std::ifstream f(path);
    if (!f) {
      std::fprintf(stderr, "nvml stand-in: cannot read ECO_NVML_STUB_TRACE=%s\n", path);
      return kUnknown;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  } else if (const char* script = std::getenv("ECO_NVML_STUB_SCRIPT")) {
    text = script;
  }
  for (char& c : text) c = c == ';' ? '\n' : c;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::string why;
    bool ok = false;
    try {
      ok = parse_line(line, why);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!ok) {
      std::fprintf(stderr, "nvml stand-in: script line %d: %s\n", number, why.c_str());
      return kUnknown;
    }
  }
  if (g.devices.empty() && text.find("device") == std::string::npos) g.devices.emplace_back();
  for (size_t i = 0; i < g.devices.size(); ++i) {
    if (g.devices[i].uuid.empty()) g.devices[i].uuid = "GPU-stand-in-" + std::to_string(i);
  }
  const char* epoch = std::getenv("ECO_NVML_STUB_EPOCH");
  g.epoch = epoch && *epoch ? std::strtod(epoch, nullptr) : steady_now();
  return kSuccess;
}

Return fault(const char* call, int device) {
  if (g.refs == 0) return kUninitialized;
  const double t = script_now();
  for (const Fault& f : g.faults) {
    if (f.call == call && (f.device < 0 || f.device == device) && t >= f.from && t < f.until) {
      return f.code;
    }
  }
  return kSuccess;
}

Device* as_device(void* handle, int& index) {
  for (size_t i = 0; i < g.devices.size(); ++i) {
    if (handle == &g.devices[i]) {
      index = static_cast<int>(i);
      return &g.devices[i];
    }
  }
  return nullptr;
}

double power_at(const Device& d, double t) {
  const auto& p = d.power;
  if (t <= p.front().first) return p.front().second;
  for (size_t i = 1; i < p.size(); ++i) {
    if (t <= p[i].first) {
      const double span = p[i].first - p[i - 1].first;
      return span > 0
                 ? p[i - 1].second + (p[i].second - p[i - 1].second) * (t - p[i - 1].first) / span
                 : p[i].second;
    }
  }
  return p.back().second;
}

// Exact integral of the power from script time 0 to t (joules; negative for t < 0).
double energy_to(const Device& d, double t) {
  double a = 0, joules = 0;
  const double sign = t >= 0 ? 1 : -1;
  const double lo = std::min(0.0, t), hi = std::max(0.0, t);
  a = lo;
  std::vector<double> knots;
  for (const auto& pt : d.power) {
    if (pt.first > lo && pt.first < hi) knots.push_back(pt.first);
  }
  knots.push_back(hi);
  for (double b : knots) {
    joules += 0.5 * (power_at(d, a) + power_at(d, b)) * (b - a);
    a = b;
  }
  return sign * joules;
}

// A fixed fraction in [0, 1) for update k (splitmix64), so a script replays identically.
double jitter_fraction(long long k) {
  unsigned long long z = static_cast<unsigned long long>(k) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / 9007199254740992.0;
}

// Script time of the counter's last change at or before t.
double last_refresh(const Device& d, double t) {
  if (d.period_s <= 0) return t;
  auto change = [&](long long k) {
    return d.phase_s + static_cast<double>(k) * d.period_s + d.jitter_s * jitter_fraction(k);
  };
  auto k = static_cast<long long>(std::floor((t - d.phase_s) / d.period_s));
  while (change(k) > t) --k;
  return change(k);
}

double counter_mj(const Device& d, double t) {
  const double refreshed = last_refresh(d, t);
  double last_reset = -1e300;
  for (double r : d.resets) {
    if (r <= refreshed && r > last_reset) last_reset = r;
  }
  if (last_reset > -1e300)
    return std::floor(1000.0 * (energy_to(d, refreshed) - energy_to(d, last_reset)));
  return kCounterOffsetMj + std::floor(1000.0 * energy_to(d, refreshed));
}

Return copy_string(const std::string& s, char* out, unsigned length) {
  if (!out) return kInvalidArgument;
  if (s.size() + 1 > length) return kInsufficientSize;
  std::memcpy(out, s.c_str(), s.size() + 1);
  return kSuccess;
}

// Common prologue for device calls: valid handle, then any scripted fault.
#define STUB_DEVICE(call)                 \
  int index = -1;                         \
  Device* d = as_device(device, index);   \
  if (g.refs == 0) return kUninitialized; \
  if (!d) return kInvalidArgument;        \
  if (Return rc = fault(call, index); rc != kSuccess) return rc

struct FieldValue {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;
  long long latencyUsec;
  int valueType;
  Return nvmlReturn;
  union {
    double dVal;
    unsigned int uiVal;
    unsigned long long ullVal;
  } value;
};
static_assert(sizeof(FieldValue) == 40, "nvmlFieldValue_t is 40 bytes");

}  // namespace

NVML_STUB_EXPORT Return nvmlInit_v2() {
  if (g.refs == 0) {
    if (Return rc = load_script(); rc != kSuccess) return rc;
    for (const Fault& f : g.faults) {
      if (f.call == "init") return f.code;
    }
  }
  ++g.refs;
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlShutdown() {
  if (g.refs == 0) return kUninitialized;
  --g.refs;
  return kSuccess;
}

NVML_STUB_EXPORT const char* nvmlErrorString(Return rc) {
  switch (rc) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kNotSupported:
      return "Not Supported";
    case kNoPermission:
      return "Insufficient Permissions";
    case kNotFound:
      return "Not Found";
    case kInsufficientSize:
      return "Insufficient Size";
    case kDriverNotLoaded:
      return "Driver Not Loaded";
    case kGpuIsLost:
      return "GPU is lost";
    default:
      return "Unknown Error";
  }
}

NVML_STUB_EXPORT Return nvmlSystemGetDriverVersion(char* out, unsigned length) {
  if (Return rc = fault("driver", -1); rc != kSuccess) return rc;
  return copy_string(g.driver, out, length);
}

NVML_STUB_EXPORT Return nvmlDeviceGetCount_v2(unsigned* count) {
  if (Return rc = fault("count", -1); rc != kSuccess) return rc;
  if (!count) return kInvalidArgument;
  *count = static_cast<unsigned>(g.devices.size());
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (Return rc = fault("handle", static_cast<int>(index)); rc != kSuccess) return rc;
  if (!device || index >= g.devices.size()) return kInvalidArgument;
  *device = &g.devices[index];
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  if (Return rc = fault("handle", -1); rc != kSuccess) return rc;
  if (!uuid || !device) return kInvalidArgument;
  for (Device& d : g.devices) {
    if (d.uuid == uuid) {
      *device = &d;
      return kSuccess;
    }
  }
  return kNotFound;
}

NVML_STUB_EXPORT Return nvmlDeviceGetName(void* device, char* out, unsigned length) {
  STUB_DEVICE("name");
  return copy_string(d->name, out, length);
}

NVML_STUB_EXPORT Return nvmlDeviceGetUUID(void* device, char* out, unsigned length) {
  STUB_DEVICE("uuid");
  return copy_string(d->uuid, out, length);
}

NVML_STUB_EXPORT Return nvmlDeviceGetTotalEnergyConsumption(void* device, unsigned long long* mj) {
  STUB_DEVICE("energy");
  if (!mj) return kInvalidArgument;
  *mj = static_cast<unsigned long long>(counter_mj(*d, script_now()));
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetFieldValues(void* device, int count, FieldValue* values) {
  STUB_DEVICE("fields");
  if (!values || count < 0) return kInvalidArgument;
  const double t = script_now();
  for (int i = 0; i < count; ++i) {
    FieldValue& f = values[i];
    f.timestamp = static_cast<long long>(t * 1e6);
    f.latencyUsec = 0;
    f.valueType = 1;  // unsigned int, milliwatts
    if (f.fieldId == 186) {
      f.nvmlReturn = fault("instant", index);
      // Refreshed at phase_ms + k power_refresh_ms (in step with the counter's grid).
      const double shown =
          d->power_refresh_s > 0
              ? d->phase_s + std::floor((t - d->phase_s) / d->power_refresh_s) * d->power_refresh_s
              : t;
      f.value.uiVal = static_cast<unsigned>(std::lround(1000.0 * power_at(*d, shown)));
    } else if (f.fieldId == 185) {
      f.nvmlReturn = fault("average", index);
      f.value.uiVal =
          static_cast<unsigned>(std::lround(1000.0 * (energy_to(*d, t) - energy_to(*d, t - 1.0))));
    } else {
      f.nvmlReturn = kNotSupported;
    }
  }
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetPowerUsage(void* device, unsigned* mw) {
  STUB_DEVICE("usage");
  if (!mw) return kInvalidArgument;
  // As on Ampere-and-newer boards: the average over the last second.
  const double t = script_now();
  *mw = static_cast<unsigned>(std::lround(1000.0 * (energy_to(*d, t) - energy_to(*d, t - 1.0))));
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetTemperature(void* device, int sensor, unsigned* celsius) {
  STUB_DEVICE("temperature");
  if (!celsius || sensor != 0) return kInvalidArgument;
  *celsius = static_cast<unsigned>(d->temperature_c);
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetClockInfo(void* device, int type, unsigned* mhz) {
  STUB_DEVICE("clock");
  if (!mhz) return kInvalidArgument;
  if (type == 1)
    *mhz = 1980;  // SM
  else if (type == 2)
    *mhz = 2619;  // memory
  else
    *mhz = 1755;
  return kSuccess;
}

NVML_STUB_EXPORT Return nvmlDeviceGetEnforcedPowerLimit(void* device, unsigned* mw) {
  STUB_DEVICE("limit");
  if (!mw) return kInvalidArgument;
  *mw = static_cast<unsigned>(d->limit_w * 1000.0);
  return kSuccess;
}

struct Memory {
  unsigned long long total, free, used;
};

NVML_STUB_EXPORT Return nvmlDeviceGetMemoryInfo(void* device, Memory* memory) {
  STUB_DEVICE("memory");
  if (!memory) return kInvalidArgument;
  memory->total = static_cast<unsigned long long>(d->memory_mib * 1048576.0);
  memory->used = 512ull * 1048576ull;
  memory->free = memory->total - memory->used;
  return kSuccess;
}
