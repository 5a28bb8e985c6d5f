// `ecocompute monitor`: live power, temperature and clocks per GPU, with energy since start,
// until Ctrl-C (or --duration). Like `nvidia-smi dmon`, plus energy.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "meter/energy_math.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct Options {
  int interval_ms = 1000;
  std::string csv;
  double duration_s = 0;  // 0: until Ctrl-C
};

std::string cell(double v, const char* f = "{:.1f}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : std::string("-");
}

void run_monitor(const Options& o) {
  eco::meter::MeterOptions mo;
  // Sample at least at 10 Hz so that the energy since start is integrated finely, whatever the
  // print interval.
  mo.interval_s = std::min(0.1, o.interval_ms / 1000.0);
  eco::meter::Meter meter(mo);
  if (!meter.gpu_available()) {
    fmt::print("GPU energy: unavailable ({})\n", meter.gpu_unavailable_reason());
  }
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    if (!csv) eco::fail("--csv: cannot write '{}'; check the directory exists", o.csv);
    csv << "time_s,device,power_w,avg_power_w,temperature_c,sm_clock_mhz,mem_clock_mhz,"
           "energy_counter_mj,energy_since_start_j\n";
  }
  g_stop = 0;
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  const double start = meter.now();
  meter.begin("monitor");
  fmt::print("{:>8} {:>3} {:>8} {:>8} {:>5} {:>6} {:>6} {:>11}\n", "time_s", "gpu", "power_W",
             "avg1s_W", "temp", "sm_MHz", "mem_MHz", "energy_J");
  auto next = std::chrono::steady_clock::now();
  while (!g_stop) {
    next += std::chrono::milliseconds(o.interval_ms);
    while (!g_stop && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (g_stop) break;
    const auto samples = meter.sample_now();
    const double t = meter.now() - start;
    for (const auto& s : samples) {
      std::vector<eco::meter::Sample> mine;
      for (const auto& x : meter.timeline(start, s.t)) {
        if (x.device == s.device) mine.push_back(x);
      }
      eco::meter::WindowPolicy policy;
      policy.has_counter = meter.devices()[static_cast<size_t>(s.device)].has_energy_counter;
      const double energy = eco::meter::summarize_device(mine, t, NAN, policy).gross_j;
      fmt::print("{:>8.1f} {:>3} {:>8} {:>8} {:>5} {:>6} {:>6} {:>11}\n", t, s.device,
                 cell(s.watts), cell(s.avg_watts), cell(s.temperature_c, "{:.0f}"),
                 cell(s.sm_clock_mhz, "{:.0f}"), cell(s.mem_clock_mhz, "{:.0f}"),
                 cell(energy, "{:.2f}"));
      if (csv.is_open()) {
        auto c = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : ""; };
        csv << fmt::format(
            "{:.3f},{},{},{},{},{},{},{},{}\n", t, s.device, c(s.watts), c(s.avg_watts),
            c(s.temperature_c), c(s.sm_clock_mhz), c(s.mem_clock_mhz),
            std::isfinite(s.energy_mj) ? fmt::format("{:.0f}", s.energy_mj) : "", c(energy));
      }
    }
    std::fflush(stdout);
    if (o.duration_s > 0 && t >= o.duration_s) break;
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  const auto w = meter.end("monitor");
  fmt::print("Monitored {:.1f} s\n", w.duration_s);
  for (const auto& d : w.devices) {
    fmt::print("GPU {} ({}): {} J since start ({}), mean {} W, peak {} W\n", d.device, d.name,
               cell(d.gross_j, "{:.2f}"), d.source, cell(d.mean_power_w), cell(d.peak_power_w));
  }
  for (const auto& h : w.host) {
    if (h.available) fmt::print("Host {}: {} J since start\n", h.domain, cell(h.joules, "{:.2f}"));
  }
  if (csv.is_open() && !csv) eco::fail("--csv: writing '{}' failed (disk full?)", o.csv);
}

void setup(CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("--interval-ms", o->interval_ms, "Print (and CSV row) interval (default 1000)")
      ->check(CLI::Range(10, 3600000));
  sub.add_option("--csv", o->csv, "Also write every row to this CSV file");
  sub.add_option("--duration", o->duration_s, "Stop after this many seconds (default: Ctrl-C)")
      ->check(CLI::Range(0.0, 1e7));
  sub.callback([o] { run_monitor(*o); });
}

}  // namespace

ECO_COMMAND("monitor", "Live GPU power, temperature, clocks and energy since start", setup);
