#pragma once
// ecocompute meter: GPU (NVML) and host (RAPL) energy, a sampled power timeline, and named
// measurement windows. Embeddable: plain C++20, no third-party headers, link eco_meter.
//
// clang-format off
//   eco::meter::Meter meter;        // loads libnvidia-ml.so.1 with dlopen, starts sampling
//   meter.measure_idle(5.0);        // idle baseline, subtracted from every later window
//   meter.begin("decode", {.aligned = true});   // returns right after a counter update
//   ... work ...
//   eco::meter::WindowResult r = meter.end("decode");
//
//   {                                           // or scoped: cancelled if end() is not reached
//     eco::meter::ScopedWindow w(meter, "prefill");
//     ... work that may throw ...
//     r = w.end();
//   }
// clang-format on
//
// Nothing here throws when the GPU or the host sensors are missing: the meter still times windows
// and says why energy is unavailable (Meter::gpu_unavailable_reason()). Misuse (end() of a window
// that was never begun, bad options) throws std::runtime_error with a message naming the input.
// docs/METHODOLOGY.md ("Meter") defines every field below.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eco::meter {

class GpuSensor;  // src/meter/sensor.h: NVML, or a scripted sensor in tests

struct MeterOptions {
  double interval_s = 0.1;       // sampler period; 0 = no background sampling
  double tolerance = 0.05;       // |counter - integrated| / counter above this -> disagreement
  int min_counter_updates = 10;  // fewer counter updates in a window -> too_short
  std::string nvml_library;      // empty: $ECO_NVML_LIBRARY, else "libnvidia-ml.so.1"
  std::string rapl_root;         // empty: "/sys/class/powercap"
  bool use_gpu = true;           // false: do not load NVML at all
  bool use_host = true;          // false: do not read RAPL
  bool start_sampling = true;    // false: call Meter::start() yourself
};

// What one GPU is and what it supports (probed once when the meter is built).
struct DeviceInfo {
  int index = 0;       // position among the visible devices (CUDA_VISIBLE_DEVICES)
  int nvml_index = 0;  // NVML's own index (PCI bus order)
  std::string name;
  std::string uuid;
  double power_limit_w = 0;         // enforced limit; NaN when not readable
  double memory_total_mib = 0;      // NaN when not readable
  double memory_used_mib = 0;       // at probe time; NaN when not readable
  bool has_energy_counter = false;  // nvmlDeviceGetTotalEnergyConsumption
  bool has_power_instant = false;   // field NVML_FI_DEV_POWER_INSTANT
  bool has_power_average = false;   // field NVML_FI_DEV_POWER_AVERAGE (1 s average)
  bool has_power_usage = false;     // nvmlDeviceGetPowerUsage
  bool has_temperature = false;
  bool has_clocks = false;
  std::string power_source;        // which reading the timeline uses; empty when none works
  std::string energy_source;       // "counter" or "timeline" (the fallback)
  std::vector<std::string> notes;  // each unsupported reading or fallback, with the NVML message
  std::string error;               // non-empty: the device failed (e.g. GPU is lost)
};

// One host energy domain (RAPL package-N or dram).
struct HostDomainInfo {
  std::string name;  // "package-0", "dram-0", ...
  std::string path;  // sysfs directory
  bool available = false;
  std::string reason;  // why unavailable ("permission denied reading ...")
};

// One timeline entry. Readings that a device does not support, or that failed, are NaN.
struct Sample {
  double t = 0;          // steady clock, seconds
  int device = 0;        // visible index
  double watts = 0;      // from DeviceInfo::power_source
  double avg_watts = 0;  // NVML's 1 s average field, when supported (else NaN)
  double temperature_c = 0;
  double sm_clock_mhz = 0;
  double mem_clock_mhz = 0;
  double energy_mj = 0;  // energy counter, mJ since driver load (NaN without counter)
};

// How a window meets the energy counter (docs/METHODOLOGY.md, "Update-aligned windows").
struct WindowOptions {
  // true: begin() waits until the counter changes (the work starts right after an update) and
  // end() waits for the next change and removes the energy of the tail after the work.
  bool aligned = false;
  // Longest wait for a counter change at either end; a device whose counter does not change in
  // time gets a plain window (DeviceEnergy::aligned = false, with a note).
  double align_timeout_s = 0.5;
  // Back-to-back windows: when an aligned boundary of this meter saw every device's counter
  // change at most this long ago (the end of the window just closed, say), begin() starts from
  // that change instead of waiting up to an update for the next one. The head, from the change
  // to the work, is removed from the power readings around it, which would miss a short burst
  // of work: set it only when nothing ran on the GPU since that window ended. 0 (default):
  // always wait for a new change.
  double reuse_change_s = 0;
  // The energy counter's update period, measured (Meter::watch_counters; the bench does this
  // once per sweep). 0 (default): unknown. With it an aligned window takes its tail's energy
  // from the counter's last increment, not from the instant power readings, which some boards
  // (H200: ~100 ms) refresh so rarely that they still show the work's power after it ended.
  double counter_period_s = 0;
};

struct DeviceEnergy {
  int device = 0;
  std::string name;
  std::string uuid;
  double counter_j = 0;     // from the energy counter; NaN without one
  double integrated_j = 0;  // trapezoid over the power timeline; NaN without power
  double gross_j = 0;       // the reported figure: counter_j, else integrated_j
  std::string source;       // "counter" | "timeline" | "none"
  double mean_power_w = 0;  // gross_j / duration
  double peak_power_w = 0;  // highest timeline sample in the window
  double idle_power_w = 0;  // from measure_idle(); NaN when no baseline
  double net_j = 0;         // gross_j - idle_power_w * duration; NaN without baseline
  double temp_start_c = 0, temp_end_c = 0;
  double sm_clock_start_mhz = 0, sm_clock_end_mhz = 0;
  double mem_clock_start_mhz = 0, mem_clock_end_mhz = 0;
  int samples = 0;                 // timeline samples inside the window (boundaries included)
  int counter_updates = 0;         // changes of the counter value seen inside the window
  bool too_short = false;          // fewer than min_counter_updates updates (samples w/o counter)
  bool disagreement = false;       // counter and integrated differ by more than the tolerance
  bool fallback_used = false;      // no counter: gross_j is the integrated timeline
  bool counter_reset = false;      // the counter went down inside the window; segments summed
  bool incomplete = false;         // readings failed at the window's start or end (e.g. GPU lost)
  bool aligned = false;            // the counter boundaries were aligned to its updates
  double uncertainty_j = 0;        // residual error of gross_j (J); NaN when not estimated
  double tail_s = 0;               // aligned: time from the work's end to the next counter change
  double head_s = 0;               // aligned: time from the counter change to the work's start
  std::vector<std::string> notes;  // errors and fallbacks seen during the window
};

struct HostEnergy {
  std::string domain;
  bool available = false;
  std::string reason;  // when unavailable
  double joules = 0;
};

struct WindowResult {
  std::string name;
  double start_s = 0, end_s = 0, duration_s = 0;  // steady clock
  bool gpu_available = false;
  std::string gpu_unavailable_reason;
  std::vector<DeviceEnergy> devices;
  std::vector<HostEnergy> host;
  double gross_j() const;  // sum over devices (NaN when no device has energy)
  double net_j() const;    // sum over devices (NaN when any baseline is missing)
};

// One change of a device's energy counter, seen while polling it (Meter::watch_counters).
struct CounterChange {
  double t = 0;             // steady clock: middle of the bracket around the change
  double half_width_s = 0;  // the change happened within t +- half_width_s
  double energy_mj = 0;     // value after the change
  double increment_mj = 0;  // value after minus value before
};

struct CounterWatch {
  int device = 0;
  int reads = 0;           // counter reads made
  double read_cost_s = 0;  // mean duration of one read
  std::vector<CounterChange> changes;
};

class Meter {
 public:
  explicit Meter(MeterOptions options = {});
  // Tests and embedders may supply their own GPU sensor (see src/meter/scripted_sensor.h).
  Meter(MeterOptions options, std::unique_ptr<GpuSensor> sensor);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  bool gpu_available() const;
  const std::string& gpu_unavailable_reason() const;
  const std::string& driver_version() const;
  const std::vector<DeviceInfo>& devices() const;
  const std::vector<HostDomainInfo>& host_domains() const;
  const std::string& host_unavailable_reason() const;  // empty when any host domain is readable
  const MeterOptions& options() const;

  void start();  // start the sampler thread (idempotent)
  void stop();   // stop it (idempotent); windows still work, from boundaries

  // Meters `seconds` of idleness (sleeping) and keeps the mean power per device as the baseline.
  // A plain window by default; an aligned one (options.aligned) has no counter quantisation at
  // its ends, so a shorter sleep gives the same precision.
  std::vector<double> measure_idle(double seconds, const WindowOptions& options = {});
  void set_idle_power(const std::vector<double>& watts_per_device);
  const std::vector<double>& idle_power() const;

  // Windows are identified by name; they may nest and overlap. Each boundary takes one
  // synchronous sample of every device, so a window is exact at its ends. An aligned window
  // (WindowOptions::aligned) also waits for counter changes at both ends, on the calling thread.
  void begin(const std::string& name, const WindowOptions& options = {});
  WindowResult end(const std::string& name);
  // Closes an open window without a result; does nothing when `name` is not open.
  void cancel(const std::string& name);
  bool is_open(const std::string& name) const;

  // Samples one boundary right now (as begin/end do) and returns the latest sample per device.
  std::vector<Sample> sample_now();
  std::vector<Sample> timeline() const;  // every device, time order per device
  std::vector<Sample> timeline(double from_s, double to_s) const;
  double now() const;  // steady clock seconds, the timeline's clock

  // Polls every device's energy counter for `seconds` on the calling thread, about every poll_s
  // (0: back to back), and returns each change seen: the counter's real update period, phase
  // and jitter (`ecocompute monitor --counter-updates`).
  std::vector<CounterWatch> watch_counters(double seconds, double poll_s = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A window that cannot be left open: begun by the constructor, ended by end(), and cancelled by
// the destructor when end() was not reached (an exception, an early return).
class ScopedWindow {
 public:
  ScopedWindow(Meter& meter, std::string name, const WindowOptions& options = {});
  ~ScopedWindow();
  ScopedWindow(ScopedWindow&& other) noexcept;
  ScopedWindow(const ScopedWindow&) = delete;
  ScopedWindow& operator=(const ScopedWindow&) = delete;
  ScopedWindow& operator=(ScopedWindow&&) = delete;

  WindowResult end();  // once; a second call throws std::runtime_error naming the window
  void cancel();       // closes the window without a result (idempotent)
  bool open() const { return meter_ != nullptr; }
  const std::string& name() const { return name_; }

 private:
  Meter* meter_;  // null once ended, cancelled or moved from
  std::string name_;
};

}  // namespace eco::meter
