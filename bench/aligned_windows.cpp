// What update-aligned windows cost beside plain ones: each repetition opens one plain and one
// aligned window (order alternating) around the same fixed CPU computation and times, on the
// calling thread, begin() (an aligned begin waits for a counter change), the computation
// inside the window, and end() (an aligned end waits for the next change). The overhead of a
// window is begin + end; the computation's time inside either window should be the same, since
// the waits lie outside it. The GPU sensor is whatever the meter loads: libnvidia-ml.so.1, or
// ECO_NVML_LIBRARY (the stand-in tests/nvml_stub/lib/libnvidia-ml.so.1 with
// ECO_NVML_STUB_SCRIPT="device period_ms=100; power 0 0 150" imitates a 100 ms counter).
//   bench_aligned_windows [--reps N] [--work-ms MS]
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "ecocompute/meter.h"

namespace {

double wall() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Args {
  int reps = 20;
  double work_ms = 300;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) eco::fail("{}: missing value (flags: --reps --work-ms)", flag);
    const std::string v = argv[++i];
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x > 0))
      eco::fail("{} '{}': expected a positive number", flag, v);
    if (flag == "--reps")
      a.reps = int(x);
    else if (flag == "--work-ms")
      a.work_ms = x;
    else
      eco::fail("unknown flag '{}' (flags: --reps --work-ms)", flag);
  }
  return a;
}

// A fixed amount of integer work (a linear congruential chain the compiler cannot shorten).
uint64_t compute(uint64_t steps) {
  uint64_t x = 88172645463325252ull;
  for (uint64_t i = 0; i < steps; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

uint64_t calibrate(double work_ms) {
  uint64_t steps = 1 << 16;
  for (;;) {
    const double t = wall();
    volatile uint64_t sink = compute(steps);
    (void)sink;
    const double took = wall() - t;
    if (took > 0.05) return std::max<uint64_t>(1, uint64_t(double(steps) * work_ms / 1e3 / took));
    steps *= 2;
  }
}

struct Times {
  std::vector<double> begin_s, work_s, end_s, tail_s;
  int aligned = 0;  // windows whose first device was aligned
};

void time_window(eco::meter::Meter& meter, bool aligned, uint64_t steps, Times& t) {
  const double t0 = wall();
  meter.begin("w", {.aligned = aligned});
  const double t1 = wall();
  volatile uint64_t sink = compute(steps);
  (void)sink;
  const double t2 = wall();
  const eco::meter::WindowResult r = meter.end("w");
  const double t3 = wall();
  t.begin_s.push_back(t1 - t0);
  t.work_s.push_back(t2 - t1);
  t.end_s.push_back(t3 - t2);
  if (!r.devices.empty() && r.devices.front().aligned) {
    ++t.aligned;
    t.tail_s.push_back(r.devices.front().tail_s);
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double max_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

void print_row(const char* mode, const Times& t, double plain_work, int reps) {
  std::vector<double> both;
  for (size_t i = 0; i < t.begin_s.size(); ++i) both.push_back(t.begin_s[i] + t.end_s[i]);
  const double work = median(t.work_s);
  fmt::print(
      "| {} | {}/{} | {:.1f} ({:.1f}) | {:.1f} ({:.1f}) | {:.1f} ({:.1f}) | {:.1f} | {:+.2f} % |\n",
      mode, t.aligned, reps, 1e3 * median(t.begin_s), 1e3 * max_of(t.begin_s),
      1e3 * median(t.end_s), 1e3 * max_of(t.end_s), 1e3 * median(both), 1e3 * max_of(both),
      1e3 * work, 100 * (work / plain_work - 1));
}

void run(const Args& a) {
  eco::meter::Meter meter;
  if (meter.gpu_available())
    fmt::print("GPU sensor: NVML driver {}, {} device(s): {}\n", meter.driver_version(),
               meter.devices().size(), meter.devices().front().name);
  else
    fmt::print("GPU sensor: unavailable ({}): aligned windows fall back to plain ones\n",
               meter.gpu_unavailable_reason());
  const uint64_t steps = calibrate(a.work_ms);
  Times plain, aligned;
  for (int r = 0; r < a.reps; ++r) {
    const bool aligned_first = r % 2 == 1;
    time_window(meter, aligned_first, steps, aligned_first ? aligned : plain);
    time_window(meter, !aligned_first, steps, aligned_first ? plain : aligned);
  }
  const double plain_work = median(plain.work_s);
  fmt::print("\n{} repetitions of a {:.0f} ms computation per window; medians (max), ms\n\n",
             a.reps, a.work_ms);
  fmt::print(
      "| window | aligned | begin | end | begin + end | computation | vs plain |\n"
      "|---|---|---|---|---|---|---|\n");
  print_row("plain", plain, plain_work, a.reps);
  print_row("aligned", aligned, plain_work, a.reps);
  if (!aligned.tail_s.empty())
    fmt::print(
        "\naligned tail (end of work to the next counter change): median {:.1f} ms, max "
        "{:.1f} ms\n",
        1e3 * median(aligned.tail_s), 1e3 * max_of(aligned.tail_s));
}

}  // namespace

int main(int argc, char** argv) try {
  run(parse(argc, argv));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_aligned_windows: %s\n", e.what());
  return 1;
}
