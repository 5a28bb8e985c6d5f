// The public window API (include/ecocompute/meter.h): sensors + sampler + named windows.
#include "ecocompute/meter.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "common/error.h"
#include "meter/aligned.h"
#include "meter/counter_watch.h"
#include "meter/energy_math.h"
#include "meter/nvml_sensor.h"
#include "meter/rapl.h"
#include "meter/sampler.h"
#include "meter/sensor.h"

namespace eco::meter {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void validate(const MeterOptions& o) {
  if (!(o.interval_s >= 0 && o.interval_s <= 60)) {
    eco::fail("meter interval {} s is out of range: use 0 (no sampling) to 60 s", o.interval_s);
  }
  if (!(o.tolerance > 0 && o.tolerance < 1)) {
    eco::fail("meter tolerance {} is out of range: use a fraction in (0, 1), e.g. 0.05",
              o.tolerance);
  }
  if (o.min_counter_updates < 0) {
    eco::fail("meter min_counter_updates {} must not be negative", o.min_counter_updates);
  }
}

struct OpenWindow {
  WindowOptions options;
  double start_s = 0;
  std::vector<Sample> device_start;      // each device's boundary sample
  std::vector<CounterEdge> start_edges;  // aligned: the counter change each device started on
  std::vector<double> host_j;
};

}  // namespace

double WindowResult::gross_j() const {
  if (devices.empty()) return kNaN;
  double sum = 0;
  bool any = false;
  for (const auto& d : devices) {
    if (std::isfinite(d.gross_j)) {
      sum += d.gross_j;
      any = true;
    }
  }
  return any ? sum : kNaN;
}

double WindowResult::net_j() const {
  if (devices.empty()) return kNaN;
  double sum = 0;
  for (const auto& d : devices) sum += d.net_j;  // NaN when any baseline is missing
  return sum;
}

struct Meter::Impl {
  MeterOptions options;
  std::unique_ptr<GpuSensor> gpu;
  std::optional<RaplSensor> rapl;
  std::string unavailable;
  std::string driver;
  std::vector<DeviceInfo> devices;
  std::vector<HostDomainInfo> host_domains;
  std::string host_unavailable = "disabled (MeterOptions::use_host = false)";
  std::vector<double> idle_w;
  std::unique_ptr<Sampler> sampler;
  mutable std::mutex windows_mu;
  std::map<std::string, OpenWindow> windows;
  // The latest counter change each device showed at an aligned boundary (guarded by
  // windows_mu): where the next aligned window may start without waiting.
  std::vector<CounterEdge> last_edges;

  void remember_edges(const std::vector<CounterEdge>& edges) {
    std::lock_guard lock(windows_mu);
    last_edges.resize(devices.size());
    for (size_t d = 0; d < edges.size() && d < last_edges.size(); ++d)
      if (edges[d].seen && !(edges[d].t < last_edges[d].t)) last_edges[d] = edges[d];
  }
  // The start edges of a window that begins on the changes already seen, when every wanted
  // device changed at most `within_s` before `now`; empty otherwise. The power readings the
  // sampler took since each change join the edge's own, for the head's integral.
  std::vector<CounterEdge> recent_edges(const std::vector<bool>& want, double within_s,
                                        double now) const;

  DeviceEnergy device_energy(size_t d, const OpenWindow& w, const Sample& end_sample,
                             const CounterEdge* end_edge, double duration_s) const;
  std::vector<HostEnergy> host_energy(const std::vector<double>& start_j,
                                      const std::vector<double>& end_j) const;

  // Devices whose counter an aligned boundary can wait for.
  std::vector<bool> alignable() const {
    std::vector<bool> want(devices.size());
    for (size_t d = 0; d < devices.size(); ++d) {
      want[d] = devices[d].has_energy_counter && devices[d].error.empty();
    }
    return want;
  }

  void init(std::unique_ptr<GpuSensor> sensor) {
    validate(options);
    if (sensor) {
      unavailable = sensor->unavailable_reason();
      driver = sensor->driver_version();
      if (unavailable.empty()) {
        gpu = std::move(sensor);
        devices = gpu->devices();
      }
    } else {
      unavailable = "disabled (MeterOptions::use_gpu = false)";
    }
    if (options.use_host) {
      rapl.emplace(options.rapl_root);
      host_domains = rapl->domains();
      host_unavailable = rapl->unavailable_reason();
    }
    idle_w.assign(devices.size(), kNaN);
    sampler = std::make_unique<Sampler>(gpu.get(), static_cast<int>(devices.size()),
                                        rapl ? &*rapl : nullptr, options.interval_s);
    if (options.start_sampling) sampler->start();
  }
};

std::vector<CounterEdge> Meter::Impl::recent_edges(const std::vector<bool>& want, double within_s,
                                                   double now) const {
  if (!(within_s > 0)) return {};
  std::vector<CounterEdge> out(want.size());
  bool any = false;
  {
    std::lock_guard lock(windows_mu);
    for (size_t d = 0; d < want.size(); ++d) {
      if (!want[d]) continue;
      if (d >= last_edges.size() || !last_edges[d].seen) return {};
      const double age = now - last_edges[d].t;
      if (age < 0 || age > within_s) return {};
      out[d] = last_edges[d];
      any = true;
    }
  }
  if (!any) return {};
  for (size_t d = 0; d < out.size(); ++d) {
    if (!out[d].seen) continue;
    for (const Sample& s : sampler->device_samples(static_cast<int>(d), out[d].t, now))
      if (out[d].readings.empty() || s.t > out[d].readings.back().t) out[d].readings.push_back(s);
  }
  return out;
}

namespace {

// Why an aligned window fell back to a plain one for this device; empty when it did not.
std::string why_not_aligned(const DeviceInfo& info, const DeviceEnergy& plain,
                            const CounterEdge& start, const CounterEdge* end, double timeout_s) {
  if (!info.has_energy_counter || !info.error.empty()) return "the device has no energy counter";
  if (!start.seen || !end || !end->seen) {
    return fmt::format("the energy counter did not change within {:g} s at the window's {}",
                       timeout_s, start.seen ? "end" : "start");
  }
  if (plain.counter_reset) return "the energy counter was reset inside the window";
  return "";
}

}  // namespace

DeviceEnergy Meter::Impl::device_energy(size_t d, const OpenWindow& w, const Sample& end_sample,
                                        const CounterEdge* end_edge, double duration_s) const {
  const DeviceInfo& info = devices[d];
  const double t0 = w.device_start[d].t, t1 = end_sample.t;
  const std::vector<Sample> samples = sampler->device_samples(static_cast<int>(d), t0, t1);
  WindowPolicy policy;
  policy.tolerance = options.tolerance;
  policy.min_counter_updates = options.min_counter_updates;
  policy.has_counter = info.has_energy_counter;
  DeviceEnergy e = summarize_device(samples, duration_s, idle_w[d], policy);
  if (w.options.aligned) {
    std::string why =
        why_not_aligned(info, e, w.start_edges[d], end_edge, w.options.align_timeout_s);
    if (why.empty()) {
      // The head (and the tail, unless the counter's period gives it) is integrated from the
      // power readings, assumed good to the same tolerance that the counter/timeline
      // agreement check uses.
      AlignedInput in{w.start_edges[d], *end_edge, w.device_start[d], end_sample,
                      options.tolerance};
      in.counter_period_s = w.options.counter_period_s;
      in.inside = samples;
      const AlignedEnergy a = aligned_energy(in);
      why = a.problem;
      if (why.empty()) {
        const AlignedFigure figure{a.joules, a.uncertainty_j, a.tail_s, a.head_s};
        e = summarize_device(samples, duration_s, idle_w[d], policy, &figure);
        if (!a.tail_note.empty())
          e.notes.push_back("tail energy from power readings, not the counter (" + a.tail_note +
                            ")");
      }
    }
    if (!why.empty())
      e.notes.push_back("update-aligned window not possible (" + why + "); plain window used");
  }
  e.device = static_cast<int>(d);
  e.name = info.name;
  e.uuid = info.uuid;
  if (!info.error.empty()) e.notes.insert(e.notes.begin(), info.error);
  for (const SensorEvent& ev : sampler->events(static_cast<int>(d), t0, t1)) {
    e.notes.push_back(ev.count > 1 ? fmt::format("{} (x{})", ev.message, ev.count) : ev.message);
  }
  return e;
}

std::vector<HostEnergy> Meter::Impl::host_energy(const std::vector<double>& start_j,
                                                 const std::vector<double>& end_j) const {
  std::vector<HostEnergy> out;
  for (size_t i = 0; i < host_domains.size(); ++i) {
    HostEnergy h;
    h.domain = host_domains[i].name;
    const double j0 = i < start_j.size() ? start_j[i] : kNaN;
    const double j1 = i < end_j.size() ? end_j[i] : kNaN;
    h.available = std::isfinite(j0) && std::isfinite(j1);
    h.joules = h.available ? j1 - j0 : kNaN;
    if (!h.available) {
      h.reason =
          host_domains[i].reason.empty() ? "read failed during the window" : host_domains[i].reason;
    }
    out.push_back(std::move(h));
  }
  return out;
}

Meter::Meter(MeterOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  std::unique_ptr<GpuSensor> sensor;
  if (impl_->options.use_gpu) {
    sensor = std::make_unique<NvmlSensor>(nvml_library_path(impl_->options.nvml_library));
  }
  impl_->init(std::move(sensor));
}

Meter::Meter(MeterOptions options, std::unique_ptr<GpuSensor> sensor)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->init(std::move(sensor));
}

Meter::~Meter() {
  if (impl_ && impl_->sampler) impl_->sampler->stop();
}

bool Meter::gpu_available() const {
  return impl_->gpu != nullptr;
}
const std::string& Meter::gpu_unavailable_reason() const {
  return impl_->unavailable;
}
const std::string& Meter::driver_version() const {
  return impl_->driver;
}
const std::vector<DeviceInfo>& Meter::devices() const {
  return impl_->devices;
}
const std::vector<HostDomainInfo>& Meter::host_domains() const {
  return impl_->host_domains;
}
const std::string& Meter::host_unavailable_reason() const {
  return impl_->host_unavailable;
}
const MeterOptions& Meter::options() const {
  return impl_->options;
}
void Meter::start() {
  impl_->sampler->start();
}
void Meter::stop() {
  impl_->sampler->stop();
}
double Meter::now() const {
  return steady_seconds();
}

std::vector<double> Meter::measure_idle(double seconds, const WindowOptions& options) {
  if (!(seconds > 0 && seconds <= 3600)) {
    eco::fail("idle measurement of {} s is out of range: use 0 < seconds <= 3600", seconds);
  }
  const std::string name = "ecocompute:idle-baseline";
  WindowOptions o = options;
  o.reuse_change_s = 0;  // the idle window starts on a change of its own, after any work
  begin(name, o);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const WindowResult r = end(name);
  std::vector<double> watts(impl_->devices.size(), kNaN);
  for (const auto& d : r.devices) watts[static_cast<size_t>(d.device)] = d.mean_power_w;
  impl_->idle_w = watts;
  return watts;
}

void Meter::set_idle_power(const std::vector<double>& watts_per_device) {
  if (watts_per_device.size() != impl_->devices.size()) {
    eco::fail("idle power given for {} device(s) but the meter sees {}", watts_per_device.size(),
              impl_->devices.size());
  }
  impl_->idle_w = watts_per_device;
}

const std::vector<double>& Meter::idle_power() const {
  return impl_->idle_w;
}

std::vector<Sample> Meter::sample_now() {
  return impl_->sampler->sample_now().samples;
}

std::vector<Sample> Meter::timeline() const {
  return impl_->sampler->all_samples(-std::numeric_limits<double>::infinity(),
                                     std::numeric_limits<double>::infinity());
}

std::vector<Sample> Meter::timeline(double from_s, double to_s) const {
  return impl_->sampler->all_samples(from_s, to_s);
}

std::vector<CounterWatch> Meter::watch_counters(double seconds, double poll_s) {
  if (!(seconds > 0 && seconds <= 3600) || !(poll_s >= 0 && poll_s <= 1)) {
    eco::fail(
        "counter watch of {} s polled every {} s is out of range: use 0 < seconds <= 3600 "
        "and 0 <= poll <= 1 s",
        seconds, poll_s);
  }
  return eco::meter::watch_counters(*impl_->sampler, static_cast<int>(impl_->devices.size()),
                                    seconds, poll_s);
}

bool Meter::is_open(const std::string& name) const {
  std::lock_guard lock(impl_->windows_mu);
  return impl_->windows.count(name) > 0;
}

void Meter::begin(const std::string& name, const WindowOptions& options) {
  if (!(options.align_timeout_s > 0 && options.align_timeout_s <= 10)) {
    eco::fail("meter window '{}': align_timeout_s {} is out of range: use 0 < seconds <= 10", name,
              options.align_timeout_s);
  }
  if (is_open(name)) {
    eco::fail("meter window '{}' is already open: end it first or use another name", name);
  }
  if (options.counter_period_s < 0 || !std::isfinite(options.counter_period_s)) {
    eco::fail("meter window '{}': counter_period_s {} must be a finite number >= 0 (0: unknown)",
              name, options.counter_period_s);
  }
  if (options.reuse_change_s < 0 || !std::isfinite(options.reuse_change_s)) {
    eco::fail("meter window '{}': reuse_change_s {} must be a finite number >= 0 (0: never)", name,
              options.reuse_change_s);
  }
  OpenWindow w;
  w.options = options;
  if (options.aligned) {
    const std::vector<bool> want = impl_->alignable();
    w.start_edges = impl_->recent_edges(want, options.reuse_change_s, steady_seconds());
    if (w.start_edges.empty()) {
      w.start_edges = wait_for_counter_changes(*impl_->sampler, want, options.align_timeout_s);
      impl_->remember_edges(w.start_edges);
    }
  }
  const Sampler::Boundary b = impl_->sampler->sample_now();
  w.start_s = b.t;
  w.device_start = b.samples;
  w.host_j = b.host_j;
  std::lock_guard lock(impl_->windows_mu);
  if (!impl_->windows.emplace(name, std::move(w)).second) {
    eco::fail("meter window '{}' is already open: end it first or use another name", name);
  }
}

void Meter::cancel(const std::string& name) {
  std::lock_guard lock(impl_->windows_mu);
  impl_->windows.erase(name);
}

WindowResult Meter::end(const std::string& name) {
  OpenWindow w;
  {
    std::lock_guard lock(impl_->windows_mu);
    auto it = impl_->windows.find(name);
    if (it == impl_->windows.end()) {
      eco::fail("meter window '{}' was never begun (or already ended)", name);
    }
    w = std::move(it->second);
    impl_->windows.erase(it);
  }
  const Sampler::Boundary b = impl_->sampler->sample_now();
  std::vector<CounterEdge> end_edges;
  if (w.options.aligned) {
    std::vector<bool> want(w.start_edges.size());
    for (size_t d = 0; d < want.size(); ++d) want[d] = w.start_edges[d].seen;
    end_edges = wait_for_counter_changes(*impl_->sampler, want, w.options.align_timeout_s);
    impl_->remember_edges(end_edges);
  }
  WindowResult r;
  r.name = name;
  r.start_s = w.start_s;
  r.end_s = b.t;
  r.duration_s = r.end_s - r.start_s;
  r.gpu_available = gpu_available();
  r.gpu_unavailable_reason = impl_->unavailable;
  for (size_t d = 0; d < impl_->devices.size(); ++d) {
    r.devices.push_back(impl_->device_energy(
        d, w, b.samples[d], end_edges.empty() ? nullptr : &end_edges[d], r.duration_s));
  }
  r.host = impl_->host_energy(w.host_j, b.host_j);
  return r;
}

ScopedWindow::ScopedWindow(Meter& meter, std::string name, const WindowOptions& options)
    : meter_(&meter), name_(std::move(name)) {
  meter.begin(name_, options);
}

ScopedWindow::ScopedWindow(ScopedWindow&& other) noexcept
    : meter_(std::exchange(other.meter_, nullptr)), name_(std::move(other.name_)) {}

ScopedWindow::~ScopedWindow() {
  cancel();
}

WindowResult ScopedWindow::end() {
  if (!meter_) eco::fail("meter window '{}' was already ended or cancelled", name_);
  Meter* meter = std::exchange(meter_, nullptr);
  return meter->end(name_);
}

void ScopedWindow::cancel() {
  if (meter_) std::exchange(meter_, nullptr)->cancel(name_);
}

}  // namespace eco::meter
