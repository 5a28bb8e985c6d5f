// `ecocompute monitor`: live power, temperature and clocks per GPU, with energy since start,
// until Ctrl-C (or --duration). Like `nvidia-smi dmon`, plus energy. With --counter-updates it
// instead polls the energy counters and reports how they really update (period, phase, jitter).
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "meter/counter_watch.h"
#include "meter/energy_math.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct Options {
  int interval_ms = 1000;
  std::string csv;
  double duration_s = 0;  // 0: until Ctrl-C (10 s with --counter-updates)
  bool counter_updates = false;
};

// Every row goes to the file as it is made, so a failed write stops the monitor at once.
void check_csv(std::ofstream& csv, const std::string& path) {
  errno = 0;
  csv.flush();
  if (!csv) {
    const int e = errno;
    eco::fail("--csv: writing '{}' failed ({}); the file is incomplete", path,
              e ? std::strerror(e) : "I/O error");
  }
}

void close_csv(std::ofstream& csv, const std::string& path) {
  if (!csv.is_open()) return;
  check_csv(csv, path);
  csv.close();
  if (csv.fail()) eco::fail("--csv: closing '{}' failed; the file may be incomplete", path);
}

// Devices whose energy is integrated from power readings say so up front and in the summary.
void warn_fallbacks(const eco::meter::Meter& meter) {
  for (const auto& d : meter.devices()) {
    if (d.energy_source == "timeline") {
      fmt::print(
          "warning: GPU {} ({}) has no energy counter: its energy is integrated from {} "
          "readings (less precise)\n",
          d.index, d.name, d.power_source);
    } else if (d.energy_source == "none") {
      fmt::print(
          "warning: GPU {} ({}) has neither an energy counter nor point power readings: "
          "no energy figure\n",
          d.index, d.name);
    }
  }
}

std::string cell(double v, const char* f = "{:.1f}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : std::string("-");
}

// SIGINT/SIGTERM end the monitor's loop (g_stop) while this lives; the previous handlers come
// back afterwards, also when a write error ends the loop.
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

std::ofstream open_monitor_csv(const Options& o) {
  std::ofstream csv;
  if (o.csv.empty()) return csv;
  csv.open(o.csv);
  if (!csv) eco::fail("--csv: cannot write '{}'; check the directory exists", o.csv);
  csv << "time_s,device,power_w,avg_power_w,temperature_c,sm_clock_mhz,mem_clock_mhz,"
         "energy_counter_mj,energy_since_start_j,energy_source\n";
  check_csv(csv, o.csv);
  return csv;
}

// One row per device: the latest reading and the energy since the monitor started.
void print_row(eco::meter::Meter& meter, const eco::meter::Sample& s, double start, double t,
               std::ofstream& csv, const Options& o) {
  std::vector<eco::meter::Sample> mine;
  for (const auto& x : meter.timeline(start, s.t)) {
    if (x.device == s.device) mine.push_back(x);
  }
  const auto& info = meter.devices()[static_cast<size_t>(s.device)];
  eco::meter::WindowPolicy policy;
  policy.has_counter = info.has_energy_counter;
  const double energy = eco::meter::summarize_device(mine, t, NAN, policy).gross_j;
  fmt::print("{:>8.1f} {:>3} {:>8} {:>8} {:>5} {:>6} {:>6} {:>11}\n", t, s.device, cell(s.watts),
             cell(s.avg_watts), cell(s.temperature_c, "{:.0f}"), cell(s.sm_clock_mhz, "{:.0f}"),
             cell(s.mem_clock_mhz, "{:.0f}"), cell(energy, "{:.2f}"));
  if (!csv.is_open()) return;
  auto c = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : ""; };
  csv << fmt::format("{:.3f},{},{},{},{},{},{},{},{},{}\n", t, s.device, c(s.watts), c(s.avg_watts),
                     c(s.temperature_c), c(s.sm_clock_mhz), c(s.mem_clock_mhz),
                     std::isfinite(s.energy_mj) ? fmt::format("{:.0f}", s.energy_mj) : "",
                     c(energy), info.energy_source);
  check_csv(csv, o.csv);
}

void print_summary(const eco::meter::WindowResult& w) {
  fmt::print("Monitored {:.1f} s\n", w.duration_s);
  for (const auto& d : w.devices) {
    fmt::print("GPU {} ({}): {} J since start ({}), mean {} W, peak {} W\n", d.device, d.name,
               cell(d.gross_j, "{:.2f}"), d.source, cell(d.mean_power_w), cell(d.peak_power_w));
    if (d.fallback_used) {
      fmt::print("  warning: energy integrated from the power timeline, not an energy counter\n");
    }
  }
  for (const auto& h : w.host) {
    if (h.available) fmt::print("Host {}: {} J since start\n", h.domain, cell(h.joules, "{:.2f}"));
  }
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
  warn_fallbacks(meter);
  std::ofstream csv = open_monitor_csv(o);
  const double start = meter.now();
  {
    const StopOnSignal stop;
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
      for (const auto& s : samples) print_row(meter, s, start, t, csv, o);
      std::fflush(stdout);
      if (o.duration_s > 0 && t >= o.duration_s) break;
    }
  }
  print_summary(meter.end("monitor"));
  close_csv(csv, o.csv);
}

// Polls the counters for the duration and prints how they update; --csv gets every change.
void run_counter_updates(const Options& o) {
  eco::meter::MeterOptions mo;
  mo.interval_s = 0;  // no sampler thread competing with the polling
  mo.use_host = false;
  eco::meter::Meter meter(mo);
  if (!meter.gpu_available()) {
    eco::fail("--counter-updates: no GPU to watch ({})", meter.gpu_unavailable_reason());
  }
  const double seconds = o.duration_s > 0 ? o.duration_s : 10.0;
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    if (!csv) eco::fail("--csv: cannot write '{}'; check the directory exists", o.csv);
    csv << "device,t_s,half_width_s,energy_mj,increment_mj\n";
  }
  fmt::print("Polling the energy counter of {} GPU(s) for {:.1f} s ...\n", meter.devices().size(),
             seconds);
  std::fflush(stdout);
  const auto watches = meter.watch_counters(seconds, 0);
  for (const auto& w : watches) {
    const auto& info = meter.devices()[static_cast<size_t>(w.device)];
    const eco::meter::CounterStats s = eco::meter::counter_stats(w.changes);
    fmt::print("GPU {} ({}): {} changes in {:.1f} s, {} reads of {:.1f} us each\n", w.device,
               info.name, s.changes, seconds, w.reads, 1e6 * w.read_cost_s);
    if (!info.has_energy_counter) fmt::print("  no energy counter on this device\n");
    if (s.changes < 3) continue;
    fmt::print(
        "  period {:.3f} ms (fit); interval mean {:.3f} ms, sd {:.3f}, min {:.3f}, max "
        "{:.3f}; {} interval(s) spanning more than one period\n",
        1e3 * s.period_s, 1e3 * s.gap_mean_s, 1e3 * s.gap_sd_s, 1e3 * s.gap_min_s,
        1e3 * s.gap_max_s, s.skipped);
    fmt::print(
        "  phase {:.3f} ms (steady clock mod period); change times around the fit: sd "
        "{:.3f} ms, max {:.3f} ms; each change timed to +- {:.3f} ms\n",
        1e3 * s.phase_s, 1e3 * s.jitter_sd_s, 1e3 * s.jitter_max_s, 1e3 * s.bracket_mean_s);
    fmt::print("  mean power from the increments {:.1f} W\n", s.power_mean_w);
    const double t0 = w.changes.front().t;
    for (const auto& c : w.changes) {
      if (!csv.is_open()) break;
      csv << fmt::format("{},{:.6f},{:.6f},{:.0f},{:.0f}\n", w.device, c.t - t0, c.half_width_s,
                         c.energy_mj, c.increment_mj);
      check_csv(csv, o.csv);
    }
  }
  close_csv(csv, o.csv);
}

// CLI11's range checks let NaN through (every comparison with it is false).
const CLI::Validator finite_number(
    [](std::string& text) {
      try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size() && std::isfinite(v)) return std::string();
      } catch (const std::exception&) {
      }
      return fmt::format("'{}' is not a finite number", text);
    },
    "FINITE");

void setup(CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("--interval-ms", o->interval_ms, "Print (and CSV row) interval (default 1000)")
      ->check(CLI::Range(10, 3600000));
  sub.add_option("--csv", o->csv, "Also write every row to this CSV file");
  sub.add_option("--duration", o->duration_s, "Stop after this many seconds (default: Ctrl-C)")
      ->check(finite_number)
      ->check(CLI::Range(0.0, 1e7));
  sub.add_flag("--counter-updates", o->counter_updates,
               "Instead of monitoring, poll the energy counters (default 10 s, or --duration) and "
               "report their update period, phase and jitter; --csv gets every change");
  sub.callback([o] { o->counter_updates ? run_counter_updates(*o) : run_monitor(*o); });
}

}  // namespace

ECO_COMMAND("monitor", "Live GPU power, temperature, clocks and energy since start", setup);
