#include "meter/sampler.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace eco::meter {

Sampler::Sampler(GpuSensor* gpu, int device_count, const RaplSensor* rapl, double interval_s)
    : gpu_(gpu), device_count_(gpu ? device_count : 0), rapl_(rapl), interval_s_(interval_s) {
  timeline_.resize(static_cast<size_t>(device_count_));
  if (rapl_) host_.emplace(*rapl_);
}

Sampler::~Sampler() {
  stop();
}

void Sampler::start() {
  if (thread_.joinable() || interval_s_ <= 0) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void Sampler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Sampler::Boundary Sampler::take(bool keep) {
  // The sensor is read outside mu_, so an aligned wait's counter poll (read_counter) never waits
  // for a whole sample's reads (3.6-4.2 ms on an H200); read_mu_ keeps whole samples in order.
  std::lock_guard reading(read_mu_);
  Boundary b;
  b.t = steady_seconds();
  std::vector<std::vector<std::string>> errors(static_cast<size_t>(device_count_));
  for (int d = 0; d < device_count_; ++d) {
    Sample s = gpu_->read(d, errors[static_cast<size_t>(d)]);
    s.device = d;
    b.samples.push_back(s);
  }
  std::vector<std::optional<double>> host_uj;
  if (host_) host_uj = rapl_->read_uj();
  std::lock_guard lock(mu_);
  for (int d = 0; d < device_count_; ++d) {
    const Sample& s = b.samples[static_cast<size_t>(d)];
    timeline_[static_cast<size_t>(d)].push_back(s);
    record_errors_locked(d, s.t, errors[static_cast<size_t>(d)]);
  }
  if (host_) {
    host_->update(host_uj);
    if (keep) b.host_j = host_->joules();
  }
  if (!keep) b.samples.clear();
  return b;
}

void Sampler::record_errors_locked(int device, double t, const std::vector<std::string>& errors) {
  for (const std::string& message : errors) {
    auto last = std::find_if(events_.rbegin(), events_.rend(),
                             [device](const SensorEvent& e) { return e.device == device; });
    if (last != events_.rend() && last->message == message) {
      last->last_t = t;
      ++last->count;
    } else {
      events_.push_back({t, t, device, message, 1});
    }
  }
}

Sampler::CounterRead Sampler::read_counter(int device) {
  std::vector<std::string> errors;
  CounterRead r;
  r.t_call = r.t_before = steady_seconds();
  r.sample = gpu_->read_counter(device, errors);
  r.sample.device = device;
  r.t_after = steady_seconds();
  // The counter is read last: its read began at Sample::t, after any power reading.
  if (r.sample.t > r.t_before && r.sample.t <= r.t_after) r.t_before = r.sample.t;
  if (!errors.empty()) {
    std::lock_guard lock(mu_);
    record_errors_locked(device, r.t_after, errors);
  }
  return r;
}

void Sampler::loop() {
  using clock = std::chrono::steady_clock;
  const auto period =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval_s_));
  auto next = clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    take(false);
    lock.lock();
    next += period;
    const auto now = clock::now();
    if (next < now) next = now;  // fell behind (slow sensor): skip, never burst
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

Sampler::Boundary Sampler::sample_now() {
  return take(true);
}

std::vector<Sample> Sampler::device_samples(int device, double from, double to) const {
  std::lock_guard lock(mu_);
  const auto& v = timeline_.at(static_cast<size_t>(device));
  auto lo =
      std::lower_bound(v.begin(), v.end(), from, [](const Sample& s, double t) { return s.t < t; });
  auto hi =
      std::upper_bound(v.begin(), v.end(), to, [](double t, const Sample& s) { return t < s.t; });
  return lo < hi ? std::vector<Sample>(lo, hi) : std::vector<Sample>{};
}

std::vector<Sample> Sampler::all_samples(double from, double to) const {
  std::vector<Sample> out;
  for (int d = 0; d < device_count_; ++d) {
    auto part = device_samples(d, from, to);
    out.insert(out.end(), part.begin(), part.end());
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Sample& a, const Sample& b) { return a.t < b.t; });
  return out;
}

std::vector<SensorEvent> Sampler::events(int device, double from, double to) const {
  std::lock_guard lock(mu_);
  std::vector<SensorEvent> out;
  for (const SensorEvent& e : events_) {
    if (e.device == device && e.last_t >= from && e.first_t <= to) out.push_back(e);
  }
  return out;
}

size_t Sampler::sample_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& v : timeline_) n += v.size();
  return n;
}

}  // namespace eco::meter
