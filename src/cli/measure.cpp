// `ecocompute measure [options] -- CMD ARGS...`: runs a foreign command (execvp, no shell) as one
// meter window per run and prints duration, gross and net energy per GPU, host energy and, when
// tokens are known, J/token and tokens/s. The child's exit status becomes ecocompute's. Windows
// are update-aligned by default: the command starts right after an energy counter change.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/counter_period.h"
#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "meter/child_process.h"
#include "meter/run_stats.h"

namespace {

using eco::meter::DeviceEnergy;
using eco::meter::WindowResult;

struct Options {
  double idle_seconds = 0;
  int repeat = 1;
  double tokens = 0;
  std::string tokens_regex;
  std::string json_path;
  std::string timeline_path;
  int interval_ms = 100;
  bool plain_windows = false;
  std::vector<std::string> command;
};

struct Run {
  int number = 0;
  eco::meter::ChildResult child;
  WindowResult window;
  double tokens = NAN;  // NaN: unknown
};

std::string joules(double j) {
  return std::isfinite(j) ? fmt::format("{:.2f} J", j) : "n/a";
}
std::string watts(double w) {
  return std::isfinite(w) ? fmt::format("{:.1f} W", w) : "n/a";
}
nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

// Last match of the regex in the output: capture group 1 if the pattern has one, else the match.
class TokenRegex {
 public:
  explicit TokenRegex(const std::string& pattern) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    re_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), 0, &code,
                        &offset, nullptr);
    if (!re_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof message);
      eco::fail("--tokens-from-output: invalid regular expression '{}': {} at offset {}", pattern,
                reinterpret_cast<const char*>(message), offset);
    }
    pcre2_pattern_info(re_, PCRE2_INFO_CAPTURECOUNT, &groups_);
  }
  ~TokenRegex() { pcre2_code_free(re_); }
  TokenRegex(const TokenRegex&) = delete;
  TokenRegex& operator=(const TokenRegex&) = delete;

  std::optional<double> last_number(const std::string& text) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re_, nullptr);
    std::optional<std::string> found;
    PCRE2_SIZE start = 0;
    while (start <= text.size()) {
      const int rc = pcre2_match(re_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                                 0, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const int group = groups_ >= 1 && rc > 1 && ov[2] != PCRE2_UNSET ? 1 : 0;
      found = text.substr(ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
      start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
    if (!found) return std::nullopt;
    try {
      size_t used = 0;
      const double v = std::stod(*found, &used);
      if (used == 0 || !(v > 0)) return std::nullopt;
      return v;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

 private:
  pcre2_code* re_ = nullptr;
  uint32_t groups_ = 0;
};

std::vector<std::string> flags_of(const DeviceEnergy& d, int min_updates, double tolerance) {
  std::vector<std::string> f;
  if (d.too_short) {
    f.push_back(d.source == "counter"
                    ? fmt::format("too short ({} counter updates, fewer than {})",
                                  d.counter_updates, min_updates)
                    : fmt::format("too short ({} samples, fewer than {})", d.samples, min_updates));
  }
  if (d.disagreement) {
    f.push_back(
        fmt::format("counter and timeline disagree by more than {:.0f} %", 100 * tolerance));
  }
  if (d.fallback_used) f.push_back("fallback: energy integrated from the power timeline");
  if (d.counter_reset) f.push_back("counter reset inside the window");
  if (d.incomplete) f.push_back("incomplete: readings failed at the start or end of the window");
  return f;
}

// How the window met the counter, with its residual: "aligned to counter updates (+- 0.31 J,
// tail 42 ms)" or "plain window (+- 12.4 J: up to one counter update at each end)".
std::string window_kind(const DeviceEnergy& d) {
  if (d.aligned) {
    return fmt::format("aligned to counter updates (+- {:.2f} J, tail {:.0f} ms)", d.uncertainty_j,
                       1000 * d.tail_s);
  }
  if (d.source == "counter" && std::isfinite(d.uncertainty_j)) {
    return fmt::format("plain window (+- {:.2f} J: up to one counter update at each end)",
                       d.uncertainty_j);
  }
  return "plain window";
}

void print_window(const WindowResult& w, double tokens, const eco::meter::Meter& meter) {
  const eco::meter::MeterOptions& mo = meter.options();
  fmt::print("Duration: {:.3f} s\n", w.duration_s);
  if (!w.gpu_available) {
    fmt::print("GPU energy: unavailable ({})\n", w.gpu_unavailable_reason);
  }
  for (const DeviceEnergy& d : w.devices) {
    fmt::print("GPU {} ({}): {} gross, {} net", d.device, d.name, joules(d.gross_j),
               joules(d.net_j));
    if (std::isfinite(d.idle_power_w)) fmt::print(" at {} idle", watts(d.idle_power_w));
    fmt::print(", {} mean, {} peak\n", watts(d.mean_power_w), watts(d.peak_power_w));
    std::string agreement;
    if (std::isfinite(d.counter_j) && std::isfinite(d.integrated_j) && d.counter_j > 0) {
      agreement = fmt::format(" ({:+.2f} % vs counter)",
                              100 * (d.integrated_j - d.counter_j) / d.counter_j);
    }
    fmt::print("  source: {}; counter {} ({} updates), timeline {}{} from {} samples\n", d.source,
               joules(d.counter_j), d.counter_updates, joules(d.integrated_j), agreement,
               d.samples);
    fmt::print("  window: {}\n", window_kind(d));
    fmt::print("  temperature {:.0f} -> {:.0f} C, SM clock {:.0f} -> {:.0f} MHz\n", d.temp_start_c,
               d.temp_end_c, d.sm_clock_start_mhz, d.sm_clock_end_mhz);
    for (const auto& f : flags_of(d, mo.min_counter_updates, mo.tolerance)) {
      fmt::print("  flag: {}\n", f);
    }
    for (const auto& n : d.notes) fmt::print("  note: {}\n", n);
  }
  if (w.devices.size() > 1) {
    fmt::print("GPU total: {} gross, {} net\n", joules(w.gross_j()), joules(w.net_j()));
  }
  for (const auto& h : w.host) {
    if (h.available)
      fmt::print("Host {}: {}\n", h.domain, joules(h.joules));
    else
      fmt::print("Host {}: unavailable ({})\n", h.domain, h.reason);
  }
  if (std::isfinite(tokens)) {
    fmt::print("Tokens: {:.0f}, {:.1f} tokens/s", tokens, tokens / w.duration_s);
    if (std::isfinite(w.gross_j())) {
      fmt::print(", {:.4f} J/token gross", w.gross_j() / tokens);
      if (std::isfinite(w.net_j())) fmt::print(", {:.4f} J/token net", w.net_j() / tokens);
    }
    fmt::print("\n");
  }
}

nlohmann::json window_json(const WindowResult& w) {
  nlohmann::json j = {{"name", w.name},
                      {"duration_s", w.duration_s},
                      {"start_s", w.start_s},
                      {"end_s", w.end_s},
                      {"gpu_available", w.gpu_available},
                      {"gpu_unavailable_reason", w.gpu_unavailable_reason},
                      {"gross_j", number(w.gross_j())},
                      {"net_j", number(w.net_j())}};
  j["devices"] = nlohmann::json::array();
  for (const DeviceEnergy& d : w.devices) {
    j["devices"].push_back({{"device", d.device},
                            {"name", d.name},
                            {"uuid", d.uuid},
                            {"source", d.source},
                            {"gross_j", number(d.gross_j)},
                            {"net_j", number(d.net_j)},
                            {"counter_j", number(d.counter_j)},
                            {"integrated_j", number(d.integrated_j)},
                            {"mean_power_w", number(d.mean_power_w)},
                            {"peak_power_w", number(d.peak_power_w)},
                            {"idle_power_w", number(d.idle_power_w)},
                            {"temp_start_c", number(d.temp_start_c)},
                            {"temp_end_c", number(d.temp_end_c)},
                            {"sm_clock_start_mhz", number(d.sm_clock_start_mhz)},
                            {"sm_clock_end_mhz", number(d.sm_clock_end_mhz)},
                            {"mem_clock_start_mhz", number(d.mem_clock_start_mhz)},
                            {"mem_clock_end_mhz", number(d.mem_clock_end_mhz)},
                            {"samples", d.samples},
                            {"counter_updates", d.counter_updates},
                            {"too_short", d.too_short},
                            {"disagreement", d.disagreement},
                            {"fallback_used", d.fallback_used},
                            {"counter_reset", d.counter_reset},
                            {"incomplete", d.incomplete},
                            {"aligned", d.aligned},
                            {"uncertainty_j", number(d.uncertainty_j)},
                            {"tail_s", d.tail_s},
                            {"notes", d.notes}});
  }
  j["host"] = nlohmann::json::array();
  for (const auto& h : w.host) {
    j["host"].push_back({{"domain", h.domain},
                         {"available", h.available},
                         {"reason", h.reason},
                         {"joules", number(h.joules)}});
  }
  return j;
}

nlohmann::json stats_json(const eco::meter::RunStats& s) {
  return {{"n", s.n},           {"mean", number(s.mean)},       {"sd", number(s.sd)},
          {"cv", number(s.cv)}, {"ci95_low", number(s.ci_low)}, {"ci95_high", number(s.ci_high)}};
}

void print_stats(const char* label, const char* unit, const eco::meter::RunStats& s) {
  if (s.n == 0) {
    fmt::print("  {:<14} n/a\n", label);
    return;
  }
  fmt::print("  {:<14} mean {:.4g} {}, sd {:.3g}, CV {:.2f} %, 95 % CI [{:.4g}, {:.4g}] (n={})\n",
             label, s.mean, unit, s.sd, 100 * s.cv, s.ci_low, s.ci_high, s.n);
}

// Fails before the command runs when an output file could not be written afterwards.
void check_writable(const std::string& path, const char* option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) eco::fail("{}: '{}' is a directory; give a file path", option, path);
  if (fs::exists(p, ec)) {
    // Opening for append writes nothing; the file is replaced only after the command ran.
    std::ofstream probe(path, std::ios::app);
    if (!probe) eco::fail("{}: cannot write '{}'; check its permissions", option, path);
    return;
  }
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec) || ::access(dir.c_str(), W_OK) != 0) {
    eco::fail("{}: cannot create '{}': the directory '{}' does not exist or is not writable",
              option, path, dir.string());
  }
}

// Writes a whole output file; every write and the final flush and close are checked, so a full
// disk (or a file that refuses writes, like /dev/full or /proc/version) is an error, not exit 0.
template <typename Body>
void write_checked(const std::string& path, const char* option, Body body) {
  std::ofstream out(path);
  if (!out) eco::fail("{}: cannot write '{}'; check the directory exists", option, path);
  errno = 0;
  body(out);
  out.flush();
  out.close();
  if (out.fail()) {
    const int e = errno;
    eco::fail("{}: writing '{}' failed ({}); the file is incomplete", option, path,
              e ? std::strerror(e) : "I/O error");
  }
}

void write_timeline(const std::string& path, const eco::meter::Meter& meter,
                    const std::vector<Run>& runs) {
  write_checked(path, "--timeline", [&](std::ofstream& out) {
    const double origin = runs.front().window.start_s;
    out << "t_s,run,device,power_w,avg_power_w,temperature_c,sm_clock_mhz,mem_clock_mhz,"
           "energy_counter_mj,energy_source\n";
    auto cell = [](double v) {
      return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string();
    };
    for (const auto& s : meter.timeline(origin, runs.back().window.end_s)) {
      int run = 0;
      for (const Run& r : runs) {
        if (s.t >= r.window.start_s && s.t <= r.window.end_s) run = r.number;
      }
      // Which figure the device's energy comes from; "timeline" says: no energy counter.
      const std::string& source = meter.devices().at(static_cast<size_t>(s.device)).energy_source;
      out << fmt::format(
          "{:.6f},{},{},{},{},{},{},{},{},{}\n", s.t - origin, run, s.device, cell(s.watts),
          cell(s.avg_watts), cell(s.temperature_c), cell(s.sm_clock_mhz), cell(s.mem_clock_mhz),
          std::isfinite(s.energy_mj) ? fmt::format("{:.0f}", s.energy_mj) : "", source);
    }
  });
}

// One run of the command inside its window; its token count from --tokens or the output.
Run measure_one_run(const Options& o, eco::meter::Meter& meter,
                    const std::optional<TokenRegex>& regex, int i, double counter_period_s) {
  Run run;
  run.number = i;
  eco::meter::ChildOptions co;
  co.argv = o.command;
  co.capture_output = regex.has_value();
  const std::string name = fmt::format("run-{}", i);
  eco::meter::WindowOptions wo;
  wo.aligned = !o.plain_windows;           // the command starts right after a counter change
  wo.counter_period_s = counter_period_s;  // the tail from the counter, not a stale power reading
  meter.begin(name, wo);
  run.child = eco::meter::run_child(co);
  run.window = meter.end(name);
  if (!run.child.exec_error.empty()) {
    fmt::print(stderr, "ecocompute: cannot run '{}': {}\n", o.command[0], run.child.exec_error);
    throw eco::cli::ExitCode{run.child.exit_code};
  }
  if (o.tokens > 0) run.tokens = o.tokens;
  if (regex) {
    if (auto t = regex->last_number(run.child.output)) {
      run.tokens = *t;
    } else {
      fmt::print(stderr,
                 "ecocompute: --tokens-from-output: '{}' found no positive number in the "
                 "output of run {}\n",
                 o.tokens_regex, i);
    }
  }
  return run;
}

struct RunSummary {
  eco::meter::RunStats duration, gross, net, per_token;
};

RunSummary summarise(const std::vector<Run>& runs) {
  std::vector<double> duration, gross, net, per_token;
  for (const Run& r : runs) {
    duration.push_back(r.window.duration_s);
    gross.push_back(r.window.gross_j());
    net.push_back(r.window.net_j());
    per_token.push_back(r.window.gross_j() / r.tokens);
  }
  return {eco::meter::run_stats(duration), eco::meter::run_stats(gross), eco::meter::run_stats(net),
          eco::meter::run_stats(per_token)};
}

void write_json(const Options& o, eco::meter::Meter& meter, const std::vector<Run>& runs,
                const RunSummary& sum, int exit_code) {
  nlohmann::json j = {{"command", o.command},
                      {"exit_code", exit_code},
                      {"gpu_available", meter.gpu_available()},
                      {"gpu_unavailable_reason", meter.gpu_unavailable_reason()},
                      {"driver", meter.driver_version()},
                      {"interval_s", o.interval_ms / 1000.0},
                      {"idle_seconds", o.idle_seconds}};
  j["idle_power_w"] = nlohmann::json::array();
  for (double w : meter.idle_power()) j["idle_power_w"].push_back(number(w));
  j["runs"] = nlohmann::json::array();
  for (const Run& r : runs) {
    j["runs"].push_back({{"run", r.number},
                         {"exit_code", r.child.exit_code},
                         {"signal", r.child.signal},
                         {"interrupted", r.child.interrupted},
                         {"tokens", number(r.tokens)},
                         {"j_per_token", number(r.window.gross_j() / r.tokens)},
                         {"tokens_per_s", number(r.tokens / r.window.duration_s)},
                         {"window", window_json(r.window)}});
  }
  j["summary"] = {{"duration_s", stats_json(sum.duration)},
                  {"gross_j", stats_json(sum.gross)},
                  {"net_j", stats_json(sum.net)},
                  {"j_per_token", stats_json(sum.per_token)}};
  write_checked(o.json_path, "--json", [&](std::ofstream& out) { out << j.dump(2) << "\n"; });
}

void run_measure(const Options& o) {
  std::optional<TokenRegex> regex;
  if (!o.tokens_regex.empty()) regex.emplace(o.tokens_regex);
  if (!o.json_path.empty()) check_writable(o.json_path, "--json");
  if (!o.timeline_path.empty()) check_writable(o.timeline_path, "--timeline");

  eco::meter::MeterOptions mo;
  mo.interval_s = o.interval_ms / 1000.0;
  eco::meter::Meter meter(mo);
  if (o.idle_seconds > 0 && meter.gpu_available()) {
    fmt::print(stderr, "ecocompute: measuring idle power for {:.1f} s\n", o.idle_seconds);
    const auto idle = meter.measure_idle(o.idle_seconds);
    for (size_t d = 0; d < idle.size(); ++d) {
      fmt::print(stderr, "ecocompute: GPU {} idle {}\n", d, watts(idle[d]));
    }
  }

  double counter_period_s = 0;
  if (!o.plain_windows && meter.gpu_available()) {
    counter_period_s = eco::bench::watch_counter_period(meter);
    fmt::print(stderr, "ecocompute: counter update period: {}\n",
               counter_period_s > 0 ? fmt::format("{:.1f} ms", 1000 * counter_period_s)
                                    : "unknown (window tails from the power readings)");
  }

  std::vector<Run> runs;
  int exit_code = 0;
  for (int i = 1; i <= o.repeat; ++i) {
    runs.push_back(measure_one_run(o, meter, regex, i, counter_period_s));
    const Run& run = runs.back();
    exit_code = run.child.exit_code;
    fmt::print("--- run {}/{}: {}\n", i, o.repeat,
               run.child.signal ? fmt::format("killed by signal {}", run.child.signal)
                                : fmt::format("exit status {}", run.child.exit_code));
    print_window(run.window, run.tokens, meter);
    if (exit_code != 0 || run.child.interrupted) {
      if (i < o.repeat) fmt::print("ecocompute: stopping after run {} of {}\n", i, o.repeat);
      break;
    }
  }

  const RunSummary sum = summarise(runs);
  if (runs.size() > 1) {
    fmt::print("=== {} runs: mean, sd, CV, 95 % CI (Student t)\n", runs.size());
    print_stats("duration", "s", sum.duration);
    print_stats("GPU gross", "J", sum.gross);
    print_stats("GPU net", "J", sum.net);
    print_stats("J/token gross", "J", sum.per_token);
  }
  if (!o.timeline_path.empty()) write_timeline(o.timeline_path, meter, runs);
  if (!o.json_path.empty()) write_json(o, meter, runs, sum, exit_code);
  if (exit_code != 0) throw eco::cli::ExitCode{exit_code};
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
  sub.add_option("--idle-seconds", o->idle_seconds,
                 "Measure idle power this long first; net energy subtracts it (default 0: none)")
      ->check(finite_number)
      ->check(CLI::Range(0.0, 3600.0));
  sub.add_option("--repeat", o->repeat, "Run the command N times; prints mean, sd, CV, 95 % CI")
      ->check(CLI::Range(1, 100000));
  auto* tokens =
      sub.add_option("--tokens", o->tokens, "Tokens the command produces (for J/token, tokens/s)")
          ->check(finite_number)
          ->check(CLI::PositiveNumber);
  sub.add_option("--tokens-from-output", o->tokens_regex,
                 "Regex finding the token count in the command's output (group 1 if any; last "
                 "match wins)")
      ->excludes(tokens);
  sub.add_option("--json", o->json_path, "Write every run and the summary as JSON");
  sub.add_option("--timeline", o->timeline_path, "Write the power timeline as CSV");
  sub.add_option("--interval-ms", o->interval_ms, "Sampling interval (default 100 ms)")
      ->check(CLI::Range(1, 60000));
  sub.add_flag("--plain-windows", o->plain_windows,
               "Read the energy counter at the command's start and end as they fall, without "
               "waiting for its updates (default: windows aligned to counter updates)");
  sub.add_option("command", o->command, "The command and its arguments, after '--'")
      ->required()
      ->expected(-1);
  sub.callback([o] { run_measure(*o); });
}

}  // namespace

ECO_COMMAND("measure", "Run a command and meter its GPU and host energy", setup);
