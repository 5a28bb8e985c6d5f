// The real NVML code path (dlopen, symbol binding, probing, sampling, windows) run against the
// stand-in libnvidia-ml.so.1 from tests/nvml_stub, driven by scripted traces.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ecocompute/meter.h"

#ifndef ECO_NVML_STUB
#error "ECO_NVML_STUB (path of the stand-in libnvidia-ml.so.1) comes from tests/nvml_stub"
#endif

namespace eco::meter {
namespace {

double steady_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// Independent reference: exact integral of a piecewise-linear (t, W) trace over [a, b] in
// script seconds, by fine midpoint summation (no shared code with the stub or the meter).
double exact_joules(const std::vector<std::pair<double, double>>& p, double a, double b) {
  auto power = [&](double t) {
    if (t <= p.front().first) return p.front().second;
    for (size_t i = 1; i < p.size(); ++i) {
      if (t <= p[i].first) {
        return p[i - 1].second + (p[i].second - p[i - 1].second) * (t - p[i - 1].first) /
                                     (p[i].first - p[i - 1].first);
      }
    }
    return p.back().second;
  };
  const int n = 200000;
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += power(a + (i + 0.5) * (b - a) / n);
  return sum * (b - a) / n;
}

// Sets the stand-in's script and time origin for one test; restores the environment after.
class StubNvml : public ::testing::Test {
 protected:
  void script(const std::string& text) {
    epoch_ = steady_now();
    setenv("ECO_NVML_STUB_SCRIPT", text.c_str(), 1);
    setenv("ECO_NVML_STUB_EPOCH", fmt::format("{:.9f}", epoch_).c_str(), 1);
  }
  void TearDown() override {
    unsetenv("ECO_NVML_STUB_SCRIPT");
    unsetenv("ECO_NVML_STUB_EPOCH");
    unsetenv("CUDA_VISIBLE_DEVICES");
  }
  static MeterOptions options() {
    MeterOptions o;
    o.nvml_library = ECO_NVML_STUB;
    o.interval_s = 0.005;
    o.use_host = false;
    return o;
  }
  static bool has_note(const std::vector<std::string>& notes, const std::string& part) {
    for (const auto& n : notes) {
      if (n.find(part) != std::string::npos) return true;
    }
    return false;
  }
  double epoch_ = 0;
};

const std::vector<std::pair<double, double>> kRamp = {
    {0.0, 120}, {0.2, 450}, {0.45, 450}, {0.7, 180}, {1.5, 180}};

TEST_F(StubNvml, KnownTraceWithinHalfAPercentByCounterAndTimeline) {
  script(
      "device name=NVIDIA_H100_80GB_HBM3 period_ms=1; power 0 0 120 0.2 450 0.45 450 0.7 180 "
      "1.5 180");
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available()) << meter.gpu_unavailable_reason();
  ASSERT_EQ(meter.devices().size(), 1u);
  EXPECT_EQ(meter.devices()[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(meter.devices()[0].energy_source, "counter");
  EXPECT_EQ(meter.devices()[0].power_source, "field NVML_FI_DEV_POWER_INSTANT");
  EXPECT_EQ(meter.driver_version(), "999.99.99-stand-in");
  meter.begin("load");
  sleep_s(0.8);
  const WindowResult r = meter.end("load");
  const DeviceEnergy& d = r.devices.at(0);
  const double exact = exact_joules(kRamp, r.start_s - epoch_, r.end_s - epoch_);
  EXPECT_GT(exact, 150.0);
  EXPECT_NEAR(d.counter_j, exact, 0.005 * exact);
  EXPECT_NEAR(d.integrated_j, exact, 0.005 * exact);
  EXPECT_EQ(d.source, "counter");
  EXPECT_FALSE(d.disagreement);
  EXPECT_FALSE(d.too_short);
  EXPECT_FALSE(d.fallback_used);
  EXPECT_GE(d.peak_power_w, 440.0);
  EXPECT_DOUBLE_EQ(d.temp_start_c, 40.0);
  EXPECT_DOUBLE_EQ(d.sm_clock_end_mhz, 1980.0);
}

TEST_F(StubNvml, DeviceWithoutCounterFallsBackToTheTimelineAndSaysSo) {
  script("device name=Old_GPU period_ms=1; power 0 0 200 0.4 100; error energy NOT_SUPPORTED");
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available());
  const DeviceInfo& info = meter.devices().at(0);
  EXPECT_FALSE(info.has_energy_counter);
  EXPECT_EQ(info.energy_source, "timeline");
  EXPECT_TRUE(has_note(info.notes, "nvmlDeviceGetTotalEnergyConsumption: Not Supported"));
  EXPECT_TRUE(has_note(info.notes, "fallback: no energy counter"));
  meter.begin("w");
  sleep_s(0.5);
  const WindowResult r = meter.end("w");
  const DeviceEnergy& d = r.devices.at(0);
  EXPECT_TRUE(d.fallback_used);
  EXPECT_EQ(d.source, "timeline");
  EXPECT_TRUE(std::isnan(d.counter_j));
  EXPECT_TRUE(has_note(d.notes, "no energy counter on this device"));
  const double exact = exact_joules({{0.0, 200}, {0.4, 100}}, r.start_s - epoch_, r.end_s - epoch_);
  EXPECT_NEAR(d.gross_j, exact, 0.005 * exact);
}

TEST_F(StubNvml, DriverNotLoadedIsAClearUnavailableReason) {
  script("init_error DRIVER_NOT_LOADED");
  Meter meter(options());
  EXPECT_FALSE(meter.gpu_available());
  EXPECT_EQ(meter.gpu_unavailable_reason(), "nvmlInit_v2: Driver Not Loaded (NVML error 9)");
  meter.begin("w");
  EXPECT_TRUE(meter.end("w").devices.empty());
}

TEST_F(StubNvml, MissingLibraryIsNamed) {
  MeterOptions o = options();
  o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
  Meter meter(o);
  EXPECT_FALSE(meter.gpu_available());
  EXPECT_EQ(meter.gpu_unavailable_reason(), "/nonexistent/libnvidia-ml.so.1 not found");
}

TEST_F(StubNvml, GpuLostMidWindowIsReportedAndFlagged) {
  script(
      "device period_ms=1; power 0 0 300; error energy GPU_IS_LOST from=0.25; "
      "error fields GPU_IS_LOST from=0.25");
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available());
  meter.begin("w");
  sleep_s(0.45);
  const WindowResult r = meter.end("w");
  const DeviceEnergy& d = r.devices.at(0);
  EXPECT_TRUE(has_note(d.notes, "GPU is lost (NVML error 15)"))
      << fmt::format("{}", fmt::join(d.notes, " | "));
  EXPECT_TRUE(d.incomplete);
}

TEST_F(StubNvml, GpuLostAtProbeIsTheDeviceError) {
  script("device; device; error energy GPU_IS_LOST dev=1");
  Meter meter(options());
  ASSERT_EQ(meter.devices().size(), 2u);
  EXPECT_TRUE(meter.devices()[0].error.empty());
  EXPECT_EQ(meter.devices()[1].error,
            "nvmlDeviceGetTotalEnergyConsumption: GPU is lost (NVML error 15)");
  meter.begin("w");
  sleep_s(0.05);
  const WindowResult r = meter.end("w");
  EXPECT_EQ(r.devices[1].source, "none");
  EXPECT_TRUE(has_note(r.devices[1].notes, "GPU is lost"));
  EXPECT_EQ(r.devices[0].source, "counter");
}

TEST_F(StubNvml, InstantFieldUnsupportedFallsBackToPowerUsage) {
  script("device period_ms=1; power 0 0 250; error instant NOT_SUPPORTED");
  Meter meter(options());
  const DeviceInfo& info = meter.devices().at(0);
  EXPECT_FALSE(info.has_power_instant);
  EXPECT_TRUE(info.has_power_average);
  EXPECT_EQ(info.power_source, "nvmlDeviceGetPowerUsage");
  EXPECT_TRUE(has_note(info.notes, "NVML_FI_DEV_POWER_INSTANT): Not Supported"));
  EXPECT_TRUE(has_note(info.notes, "falls back to nvmlDeviceGetPowerUsage"));
}

TEST_F(StubNvml, CounterResetInsideAWindowIsSummedAndFlagged) {
  script("device period_ms=1; power 0 0 220; reset 0 0.3");
  Meter meter(options());
  meter.begin("w");
  sleep_s(0.6);
  const WindowResult r = meter.end("w");
  const DeviceEnergy& d = r.devices.at(0);
  EXPECT_TRUE(d.counter_reset);
  EXPECT_NEAR(d.counter_j, 220 * r.duration_s, 0.01 * 220 * r.duration_s);
  EXPECT_TRUE(has_note(d.notes, "counter reset"));
}

TEST_F(StubNvml, CudaVisibleDevicesOrderIsRespected) {
  script(
      "device name=First uuid=GPU-aaaa; device name=Second uuid=GPU-bbbb; "
      "device name=Third uuid=GPU-cccc");
  setenv("CUDA_VISIBLE_DEVICES", "GPU-cc,0", 1);
  Meter meter(options());
  ASSERT_EQ(meter.devices().size(), 2u);
  EXPECT_EQ(meter.devices()[0].name, "Third");
  EXPECT_EQ(meter.devices()[0].nvml_index, 2);
  EXPECT_EQ(meter.devices()[1].name, "First");
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  Meter none(options());
  EXPECT_FALSE(none.gpu_available());
  EXPECT_NE(none.gpu_unavailable_reason().find("no NVIDIA GPU visible"), std::string::npos);
}

TEST_F(StubNvml, AlignedWindowsRecoverARampOnAPhasedJitteredCounter) {
  // The counter changes at 7 + 20 k + [0, 3) ms; the power ramps, so head and tail differ.
  script(
      "device name=NVIDIA_H200 period_ms=20 phase_ms=7 jitter_ms=3; power 0 0 120 0.2 450 0.45 "
      "450 0.7 180 1.5 180");
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available()) << meter.gpu_unavailable_reason();
  WindowOptions aligned;
  aligned.aligned = true;
  for (double length : {0.09, 0.13, 0.17, 0.21}) {
    meter.begin("w", aligned);
    sleep_s(length);
    const WindowResult r = meter.end("w");
    const DeviceEnergy& d = r.devices.at(0);
    ASSERT_TRUE(d.aligned) << (d.notes.empty() ? "" : d.notes.back());
    const double exact = exact_joules(kRamp, r.start_s - epoch_, r.end_s - epoch_);
    EXPECT_LE(std::fabs(d.gross_j - exact), d.uncertainty_j)
        << "length " << length << ": uncertainty " << d.uncertainty_j;
    EXPECT_LT(d.uncertainty_j, 0.5 * 450 * 0.020);
  }
}

// Through the real NVML code path, with an instant power field that holds its value for a
// counter period (as an H200's does): 560 W pulses of work, each ending 3 ms after a counter
// change (at 7 + 20 k ms), then 118 W. A window over a pulse that knows the counter's period
// takes its tail from the counter; the stale 560 W readings would take about 7.5 J too much.
// A window whose end() came more than 2 ms late does not test the tail; the next pulse is used.
TEST_F(StubNvml, AlignedWindowTakesItsTailFromTheCounterWhenTheInstantPowerLags) {
  std::vector<std::pair<double, double>> trace = {{0.0, 118}};
  std::vector<double> ends;
  for (int i = 0; i < 6; ++i) {
    const double end = 0.007 + 0.020 * (12 + 12 * i) + 0.003;
    ends.push_back(end);
    trace.insert(trace.end(),
                 {{end - 0.2, 118}, {end - 0.1995, 560}, {end, 560}, {end + 0.0005, 118}});
  }
  std::string text = "device name=NVIDIA_H200 period_ms=20 phase_ms=7 power_refresh_ms=20; power 0";
  for (const auto& [t, w] : trace) text += fmt::format(" {:.4f} {:g}", t, w);
  script(text);
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available()) << meter.gpu_unavailable_reason();
  WindowOptions o;
  o.aligned = true;
  o.counter_period_s = 0.020;
  for (double end : ends) {
    const double pulse_end = epoch_ + end;
    sleep_s(pulse_end - 0.17 - steady_now());
    meter.begin("w", o);
    sleep_s(pulse_end - steady_now());
    const WindowResult r = meter.end("w");
    const double late = r.end_s - pulse_end;
    if (!(r.start_s < pulse_end - 0.04 && late >= 0 && late < 0.002)) continue;
    const DeviceEnergy& d = r.devices.at(0);
    ASSERT_TRUE(d.aligned) << (d.notes.empty() ? "" : d.notes.back());
    EXPECT_TRUE(d.notes.empty()) << d.notes.front();
    ASSERT_GT(d.tail_s - late, 0.01);  // most of a period: what the readings would get wrong
    const double exact = exact_joules(trace, r.start_s - epoch_, r.end_s - epoch_);
    EXPECT_LE(std::fabs(d.gross_j - exact), d.uncertainty_j + late * (560 - 118))
        << "tail " << d.tail_s << " s, late " << late << " s";
    EXPECT_LT(d.uncertainty_j, 3.0);
    return;
  }
  GTEST_SKIP() << "end() was late at every pulse";
}

TEST_F(StubNvml, TheOneSecondAveragePowerIsNeverIntegrated) {
  // Only NVML's 1 s average field answers: no counter, no instant field, no power usage. A
  // trailing average would smear the window's edges, so there is no energy figure at all.
  script(
      "device name=Averaged period_ms=1; power 0 0 200; error energy NOT_SUPPORTED; error "
      "instant NOT_SUPPORTED; error usage NOT_SUPPORTED");
  Meter meter(options());
  ASSERT_TRUE(meter.gpu_available()) << meter.gpu_unavailable_reason();
  const DeviceInfo& info = meter.devices().at(0);
  EXPECT_TRUE(info.has_power_average);
  EXPECT_EQ(info.power_source, "");
  EXPECT_EQ(info.energy_source, "none");
  meter.begin("w");
  sleep_s(0.1);
  const WindowResult r = meter.end("w");
  const DeviceEnergy& d = r.devices.at(0);
  bool saw_average = false;
  for (const Sample& s : meter.timeline(r.start_s, r.end_s)) {
    saw_average = saw_average || std::isfinite(s.avg_watts);
  }
  EXPECT_TRUE(saw_average);                 // the field is read and kept in the timeline ...
  EXPECT_TRUE(std::isnan(d.integrated_j));  // ... and never integrated
  EXPECT_TRUE(std::isnan(d.gross_j));
  EXPECT_EQ(d.source, "none");
  EXPECT_TRUE(has_note(d.notes, "neither the energy counter nor power readings"));
}

}  // namespace
}  // namespace eco::meter
