// Cost of the meter's sampler thread, at several sampling rates:
//  1. CPU: the process's CPU time per second of wall time while the main thread sleeps, so
//     everything counted is the sampler (and the meter's setup is outside the interval);
//  2. interference: wall and CPU time of a fixed single-threaded CPU workload with the sampler
//     running, against the same workload with sampling off (a Meter with interval 0), the
//     configurations interleaved in rotating order within each repetition, medians reported.
// The GPU sensor is whatever the meter loads: ECO_NVML_LIBRARY (the stand-in
// tests/nvml_stub/lib/libnvidia-ml.so.1 on a machine without a GPU) or libnvidia-ml.so.1.
//   bench_meter_sampler [--seconds S] [--reps N] [--rates 10,100,1000] [--work-ms MS]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "ecocompute/meter.h"

namespace {

double clock_s(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double wall() {
  return clock_s(CLOCK_MONOTONIC);
}
double process_cpu() {
  return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
double thread_cpu() {
  return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

struct Args {
  double seconds = 5;
  int reps = 15;
  std::vector<int> rates = {10, 100, 1000};
  double work_ms = 300;
};

double parse_positive(const char* flag, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x > 0))
    eco::fail("{} '{}': expected a positive number", flag, v);
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      eco::fail("{}: missing value (flags: --seconds --reps --rates --work-ms)", flag);
    const std::string v = argv[++i];
    if (flag == "--seconds") {
      a.seconds = parse_positive("--seconds", v);
    } else if (flag == "--reps") {
      a.reps = int(parse_positive("--reps", v));
    } else if (flag == "--work-ms") {
      a.work_ms = parse_positive("--work-ms", v);
    } else if (flag == "--rates") {
      a.rates.clear();
      std::stringstream ss(v);
      for (std::string item; std::getline(ss, item, ',');) {
        const double hz = parse_positive("--rates", item);
        if (hz > 10000) eco::fail("--rates {}: at most 10000 Hz", item);
        a.rates.push_back(int(hz));
      }
    } else {
      eco::fail("unknown flag '{}' (flags: --seconds --reps --rates --work-ms)", flag);
    }
  }
  return a;
}

eco::meter::MeterOptions options(int hz) {
  eco::meter::MeterOptions o;
  o.interval_s = hz > 0 ? 1.0 / hz : 0.0;  // 0: no sampler thread
  return o;
}

// A fixed amount of CPU work: a 128x128 float matrix product (64 KiB per matrix, in L2 like a
// tokenizer's or a scheduler's working set), repeated `passes` times.
float workload(int passes) {
  constexpr int n = 128;
  static std::vector<float> a(n * n), b(n * n), c(n * n);
  for (int i = 0; i < n * n; ++i) {
    a[size_t(i)] = float(i % 17) * 0.01f;
    b[size_t(i)] = float(i % 13) * 0.02f;
  }
  for (int p = 0; p < passes; ++p) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        float s = 0;
        for (int k = 0; k < n; ++k) s += a[size_t(i * n + k)] * b[size_t(k * n + j)];
        c[size_t(i * n + j)] = s;
      }
    a[size_t(p % (n * n))] = c[size_t((p * 7) % (n * n))] * 1e-3f;
  }
  return c[0];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::string rate_name(int hz) {
  return hz > 0 ? fmt::format("{} Hz", hz) : std::string("off");
}

void run(const Args& a) {
  {
    eco::meter::Meter probe(options(0));
    if (probe.gpu_available()) {
      fmt::print("GPU sensor: NVML driver {}, {} device(s): {}\n", probe.driver_version(),
                 probe.devices().size(), probe.devices().front().name);
    } else {
      fmt::print(
          "GPU sensor: unavailable ({}); the sampler polls no GPU. Point ECO_NVML_LIBRARY at "
          "tests/nvml_stub/lib/libnvidia-ml.so.1 of a build to time the NVML path.\n",
          probe.gpu_unavailable_reason());
    }
    fmt::print("host sensor: {}\n", probe.host_unavailable_reason().empty()
                                        ? std::string("RAPL readable")
                                        : "unavailable (" + probe.host_unavailable_reason() + ")");
  }

  // 1. CPU cost: the main thread sleeps; the process's CPU time is the sampler's.
  fmt::print("\n| sampler | samples/s | process CPU per wall second | CPU per sample |\n");
  fmt::print("|---|---|---|---|\n");
  std::vector<int> all = {0};
  all.insert(all.end(), a.rates.begin(), a.rates.end());
  for (int hz : all) {
    eco::meter::Meter meter(options(hz));
    const double w0 = wall(), c0 = process_cpu(), t0 = meter.now();
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    const double w1 = wall(), c1 = process_cpu(), t1 = meter.now();
    const double cpu = c1 - c0, elapsed = w1 - w0;
    // Timeline entries per device inside the interval (one per device per tick).
    const size_t devices = std::max<size_t>(meter.devices().size(), 1);
    const double ticks = double(meter.timeline(t0, t1).size()) / double(devices);
    fmt::print("| {} | {:.1f} | {:.3f} % | {} |\n", rate_name(hz), ticks / elapsed,
               100 * cpu / elapsed,
               ticks > 0 ? fmt::format("{:.1f} us", 1e6 * cpu / ticks) : std::string("-"));
  }

  // 2. Interference with a fixed CPU workload. Calibrate the work once to ~work_ms.
  int passes = 1;
  for (;;) {
    const double t = thread_cpu();
    workload(passes);
    const double took = thread_cpu() - t;
    if (took > 0.05 || passes > (1 << 20)) {
      passes = std::max(1, int(passes * (a.work_ms / 1000.0) / took));
      break;
    }
    passes *= 2;
  }
  std::vector<std::vector<double>> wall_s(all.size()), cpu_s(all.size());
  for (int r = 0; r < a.reps; ++r) {
    for (size_t i = 0; i < all.size(); ++i) {
      const size_t c = (i + size_t(r)) % all.size();  // rotate the order each repetition
      eco::meter::Meter meter(options(all[c]));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // sampler settled
      const double w0 = wall(), c0 = thread_cpu();
      volatile float sink = workload(passes);
      (void)sink;
      wall_s[c].push_back(wall() - w0);
      cpu_s[c].push_back(thread_cpu() - c0);
    }
  }
  const double base_wall = median(wall_s[0]), base_cpu = median(cpu_s[0]);
  fmt::print("\nfixed workload: {} passes of a 128x128 float matmul, {} repetitions, medians\n",
             passes, a.reps);
  fmt::print("| sampler | wall | vs off | workload thread CPU | vs off | wall min..max |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (size_t c = 0; c < all.size(); ++c) {
    const auto [lo, hi] = std::minmax_element(wall_s[c].begin(), wall_s[c].end());
    const double w = median(wall_s[c]), u = median(cpu_s[c]);
    fmt::print("| {} | {:.1f} ms | {:+.2f} % | {:.1f} ms | {:+.2f} % | {:.1f}..{:.1f} ms |\n",
               rate_name(all[c]), 1e3 * w, 100 * (w / base_wall - 1), 1e3 * u,
               100 * (u / base_cpu - 1), 1e3 * *lo, 1e3 * *hi);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  run(parse(argc, argv));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_meter_sampler: %s\n", e.what());
  return 1;
}
