// The meter window API (include/ecocompute/meter.h) in about twenty lines: an idle baseline,
// then an outer window around some CPU work with an inner window nested in it. Prints each
// window's duration, GPU energy by counter and by integrated power timeline, net energy and
// flags, and host (RAPL) energy. Without an NVIDIA driver the windows are still timed and the
// reasons energy is unavailable are printed; the program exits 0 either way.
//
//   example_meter_windows [IDLE_SECONDS [WORK_SECONDS]]     (defaults 1 and 0.5)
//
// On a scripted stand-in GPU (tests/nvml_stub) drawing 100 W, then 300 W from 1.1 s on:
//   export ECO_NVML_LIBRARY=build/tests/nvml_stub/lib/libnvidia-ml.so.1
//   ECO_NVML_STUB_SCRIPT='device; power 0 0 100 1.1 100 1.11 300' example_meter_windows
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "ecocompute/meter.h"

namespace {

// Busy CPU work until `seconds` have passed on the meter's clock.
double spin(const eco::meter::Meter& meter, double seconds) {
  double x = 0;
  for (const double until = meter.now() + seconds; meter.now() < until;)
    for (int i = 1; i < 10000; ++i) x += std::sqrt(double(i));
  return x;
}

void print(const eco::meter::WindowResult& w) {
  std::printf("%s: %.3f s\n", w.name.c_str(), w.duration_s);
  if (!w.gpu_available)
    std::printf("  GPU energy: unavailable (%s)\n", w.gpu_unavailable_reason.c_str());
  for (const auto& d : w.devices)
    std::printf(
        "  GPU %d %s: counter %.3f J, integrated %.3f J, gross %.3f J (%s), net %.3f J at "
        "%.1f W idle%s%s%s%s%s\n",
        d.device, d.name.c_str(), d.counter_j, d.integrated_j, d.gross_j, d.source.c_str(), d.net_j,
        d.idle_power_w, d.too_short ? " [too_short]" : "", d.disagreement ? " [disagreement]" : "",
        d.fallback_used ? " [fallback]" : "", d.counter_reset ? " [counter_reset]" : "",
        d.incomplete ? " [incomplete]" : "");
  for (const auto& h : w.host)
    if (h.available)
      std::printf("  host %s: %.3f J\n", h.domain.c_str(), h.joules);
    else
      std::printf("  host %s: unavailable (%s)\n", h.domain.c_str(), h.reason.c_str());
}

}  // namespace

int main(int argc, char** argv) try {
  const double idle_s = argc > 1 ? std::atof(argv[1]) : 1.0;
  const double work_s = argc > 2 ? std::atof(argv[2]) : 0.5;
  eco::meter::Meter meter;  // NVML via dlopen, RAPL via powercap, sampling at 10 Hz
  if (meter.host_domains().empty())
    std::printf("host energy: unavailable (%s)\n", meter.host_unavailable_reason().c_str());
  if (idle_s > 0)  // 0: no baseline, so net energy is NaN
    for (double w : meter.measure_idle(idle_s)) std::printf("idle power: %.1f W\n", w);

  meter.begin("outer");
  double sink = spin(meter, work_s / 2);
  meter.begin("inner");  // windows nest (and may overlap) by name
  sink += spin(meter, work_s / 2);
  const eco::meter::WindowResult inner = meter.end("inner");
  const eco::meter::WindowResult outer = meter.end("outer");
  print(outer);
  print(inner);
  return sink > 0 ? 0 : 1;  // keeps the work from being optimised away
} catch (const std::exception& e) {
  std::fprintf(stderr, "example_meter_windows: %s\n", e.what());
  return 2;
}
