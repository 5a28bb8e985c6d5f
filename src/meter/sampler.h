#pragma once
// One background thread that polls every GPU and host sensor at a fixed period into the
// timeline. Boundary samples (window begin/end) take turns with it, so each device's samples
// stay in time order. The quick counter reads of aligned windows do not wait for either: the
// sensor must allow read_counter() while read() runs on another thread. Sensor failures are
// kept as events, not thrown, so a lost GPU cannot kill the thread.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "meter/rapl.h"
#include "meter/sensor.h"

namespace eco::meter {

struct SensorEvent {
  double first_t = 0, last_t = 0;  // the same message repeating is one event
  int device = -1;
  std::string message;
  int count = 0;
};

class Sampler {
 public:
  // gpu and rapl may be null (not available); both must outlive the sampler.
  Sampler(GpuSensor* gpu, int device_count, const RaplSensor* rapl, double interval_s);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  void start();
  void stop();
  bool running() const { return thread_.joinable(); }

  struct Boundary {
    double t = 0;                 // steady clock when the boundary was taken
    std::vector<Sample> samples;  // one per device
    std::vector<double> host_j;   // cumulative joules per RAPL domain (NaN: unavailable)
  };
  Boundary sample_now();

  // One quick reading of `device` (energy counter and point power only; see
  // GpuSensor::read_counter), timed: the counter read started at t_before and the call returned
  // at t_after. For the polling of update-aligned windows; not added to the timeline.
  struct CounterRead {
    double t_call = 0;  // the call began (t_before is later when power was read first)
    double t_before = 0, t_after = 0;
    Sample sample;
  };
  CounterRead read_counter(int device);

  // Samples of one device with from <= t <= to, in time order.
  std::vector<Sample> device_samples(int device, double from, double to) const;
  // Every device, merged in time order.
  std::vector<Sample> all_samples(double from, double to) const;
  // Events of one device overlapping [from, to].
  std::vector<SensorEvent> events(int device, double from, double to) const;
  size_t sample_count() const;

 private:
  // Reads every device (and the host) once into the timeline; the boundary with its samples
  // and host joules when `keep`.
  Boundary take(bool keep);
  void record_errors_locked(int device, double t, const std::vector<std::string>& errors);
  void loop();

  GpuSensor* gpu_;
  int device_count_;
  const RaplSensor* rapl_;
  std::optional<RaplAccumulator> host_;
  double interval_s_;

  std::mutex read_mu_;     // one whole sample at a time (the timeline stays in time order)
  mutable std::mutex mu_;  // the timeline, events and host accumulator; never held for a read
  std::vector<std::vector<Sample>> timeline_;  // per device
  std::vector<SensorEvent> events_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace eco::meter
