// `ecocompute measure / monitor / info` end to end: no driver, the stand-in driver, exit status
// propagation, Ctrl-C forwarding, token counts from the command's output.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

double steady_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout + stderr
  double seconds = 0;
};

// Runs the ecocompute binary with `args` and extra environment. With `interrupt_on`, SIGINT
// goes to it as soon as that text appears in its output (so a slow start on a loaded machine
// cannot make the signal arrive before the CLI handles it).
Outcome run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                const std::string& interrupt_on = {}) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  const double start = steady_now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);  // a copy left open would outlive ecocompute in background children
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv = {const_cast<char*>(ECO_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(ECO_BINARY, argv.data());
    ::_exit(126);
  }
  ::close(pipe_fds[1]);
  Outcome o;
  bool interrupted = interrupt_on.empty();
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    o.output.append(buffer, n);
    if (!interrupted && o.output.find(interrupt_on) != std::string::npos) {
      ::kill(pid, SIGINT);
      interrupted = true;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.seconds = steady_now() - start;
  return o;
}

const std::map<std::string, std::string> kNoDriver = {
    {"ECO_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"}};

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / fmt::format("eco_meter_cli_{}_{}", ::getpid(), name);
}

TEST(MeasureCli, NoDriverPrintsDurationAndUnavailableAndExitsZero) {
  const Outcome o = run_cli({"measure", "--", "sleep", "1"}, kNoDriver);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("Duration: 1.0"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("GPU energy: unavailable (/nonexistent/libnvidia-ml.so.1 not found)"),
            std::string::npos)
      << o.output;
}

TEST(MeasureCli, ChildExitStatusIsPropagated) {
  EXPECT_EQ(run_cli({"measure", "--", "sh", "-c", "exit 7"}, kNoDriver).exit_code, 7);
  EXPECT_EQ(run_cli({"measure", "--", "sh", "-c", "kill -TERM $$"}, kNoDriver).exit_code, 143);
  const Outcome missing = run_cli({"measure", "--", "/nonexistent/program"}, kNoDriver);
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.output.find("cannot run '/nonexistent/program'"), std::string::npos);
}

TEST(MeasureCli, RepeatStopsAtAFailingRun) {
  const Outcome o = run_cli({"measure", "--repeat", "3", "--", "false"}, kNoDriver);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.output.find("stopping after run 1 of 3"), std::string::npos) << o.output;
}

// The signal goes as soon as the command prints, which can be before ecocompute has recorded
// the child's pid (a loaded host): it must still be forwarded. A minute's sleep makes a lost
// signal unmistakable, not a matter of how slow the host is.
TEST(MeasureCli, InterruptReachesTheChildAndTheMeasurementIsStillPrinted) {
  const Outcome o = run_cli({"measure", "--", "sh", "-c", "echo child-started; exec sleep 60"},
                            kNoDriver, "child-started");
  EXPECT_LT(o.seconds, 30.0);
  EXPECT_EQ(o.exit_code, 130) << o.output;
  EXPECT_NE(o.output.find("killed by signal 2"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("Duration: "), std::string::npos) << o.output;
}

TEST(MeasureCli, TokensFromOutputUseTheLastMatch) {
  const fs::path json = temp_file("tokens.json");
  const Outcome o = run_cli(
      {"measure", "--repeat", "2", "--tokens-from-output", "generated (\\d+) tokens", "--json",
       json.string(), "--", "sh", "-c", "echo generated 10 tokens; echo generated 64 tokens >&2"},
      kNoDriver);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("Tokens: 64"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("=== 2 runs"), std::string::npos) << o.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["tokens"].get<double>(), 64.0);
  EXPECT_EQ(j["summary"]["duration_s"]["n"].get<int>(), 2);
  fs::remove(json);
  const Outcome bad = run_cli({"measure", "--tokens-from-output", "(", "--", "true"}, kNoDriver);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("invalid regular expression '('"), std::string::npos) << bad.output;
}

TEST(MeasureCli, StandInDriverKnownEnergyInJsonAndTimeline) {
  const fs::path json = temp_file("stub.json"), timeline = temp_file("stub.csv");
  const double epoch = steady_now();
  const Outcome o =
      run_cli({"measure", "--interval-ms", "5", "--idle-seconds", "0.2", "--tokens", "100",
               "--json", json.string(), "--timeline", timeline.string(), "--", "sleep", "1.3"},
              {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
               {"ECO_NVML_STUB_SCRIPT",
                "device name=Stand-in_H200 period_ms=1; power 0 0 75 1.0 75 1.1 "
                "375"},
               {"ECO_NVML_STUB_EPOCH", fmt::format("{:.9f}", epoch)}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("GPU 0 (Stand-in H200)"), std::string::npos) << o.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  const auto& w = j["runs"][0]["window"];
  const auto& d = w["devices"][0];
  // Exact energy of the trace over the window: 75 W until 1.0 s, ramp to 375 W at 1.1 s.
  auto cumulative = [](double t) {
    if (t <= 1.0) return 75 * t;
    if (t <= 1.1) return 75.0 + 75 * (t - 1.0) + 1500 * (t - 1.0) * (t - 1.0);
    return 75.0 + 22.5 + 375 * (t - 1.1);
  };
  const double a = w["start_s"].get<double>() - epoch, b = w["end_s"].get<double>() - epoch;
  const double exact = cumulative(b) - cumulative(a);
  EXPECT_NEAR(d["counter_j"].get<double>(), exact, 0.005 * exact);
  EXPECT_NEAR(d["integrated_j"].get<double>(), exact, 0.005 * exact);
  EXPECT_EQ(d["source"], "counter");
  // The 0.2 s idle baseline ends before the window starts; it saw only the flat 75 W unless a
  // loaded machine started the CLI so late that the idle overlapped the ramp (then it is higher).
  if (a <= 1.0) {
    EXPECT_NEAR(d["idle_power_w"].get<double>(), 75.0, 0.5);
  } else {
    EXPECT_GE(d["idle_power_w"].get<double>(), 74.5);
  }
  // net = gross (the counter, quantised to its 1 ms updates) - idle x duration, exactly.
  EXPECT_NEAR(d["net_j"].get<double>(),
              d["gross_j"].get<double>() - d["idle_power_w"].get<double>() * (b - a), 1e-6);
  EXPECT_NEAR(j["runs"][0]["j_per_token"].get<double>(), d["gross_j"].get<double>() / 100, 1e-9);
  std::ifstream csv(timeline);
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("t_s,run,device,power_w", 0), 0u);
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_GT(rows, 50);
  fs::remove(json);
  fs::remove(timeline);
}

TEST(MonitorCli, WritesRowsWithEnergySinceStartAndStops) {
  const fs::path csv_path = temp_file("monitor.csv");
  const Outcome o = run_cli(
      {"monitor", "--interval-ms", "100", "--duration", "0.5", "--csv", csv_path.string()},
      {{"ECO_NVML_LIBRARY", ECO_NVML_STUB}, {"ECO_NVML_STUB_SCRIPT", "device; power 0 0 200"}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  std::ifstream csv(csv_path);
  std::string line;
  std::getline(csv, line);
  EXPECT_NE(line.find("energy_since_start_j"), std::string::npos);
  // energy_since_start_j is the 9th column; the 10th says where the energy comes from.
  auto column = [](const std::string& row, int index) {
    std::stringstream in(row);
    std::string cell;
    for (int i = 0; i <= index; ++i) std::getline(in, cell, ',');
    return cell;
  };
  std::vector<double> energy;
  while (std::getline(csv, line)) {
    energy.push_back(std::stod(column(line, 8)));
    EXPECT_EQ(column(line, 9), "counter");
  }
  ASSERT_GE(energy.size(), 4u);
  for (size_t i = 1; i < energy.size(); ++i) EXPECT_GT(energy[i], energy[i - 1]);
  EXPECT_NEAR(energy.back() / 200.0, 0.5, 0.15);  // ~0.5 s at 200 W
  fs::remove(csv_path);
}

TEST(InfoCli, ListsSupportAndTheMeasuredCounterPeriod) {
  const Outcome o = run_cli({"info", "--probe-seconds", "0.3"},
                            {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
                             {"ECO_NVML_STUB_SCRIPT",
                              "device name=A period_ms=20; device name=B; error energy "
                              "NOT_SUPPORTED dev=1"}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("GPU 0: A"), std::string::npos) << o.output;
  const auto at = o.output.find("counter update period: ");
  ASSERT_NE(at, std::string::npos) << o.output;
  const double period_ms = std::stod(o.output.substr(at + 23));
  EXPECT_NEAR(period_ms, 20.0, 3.0) << o.output;  // the script refreshes the counter every 20 ms
  EXPECT_NE(o.output.find("energy from: timeline"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("nvmlDeviceGetTotalEnergyConsumption: Not Supported"), std::string::npos)
      << o.output;
  const Outcome none = run_cli({"info", "--probe-seconds", "0"}, kNoDriver);
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.output.find("GPU energy: unavailable (/nonexistent/libnvidia-ml.so.1 not found)"),
            std::string::npos);
}

// The stand-in driver with a counter that changes every 20 ms at a 7 ms phase with 3 ms jitter.
std::map<std::string, std::string> stepping_driver(double epoch, const std::string& extra = "") {
  return {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
          {"ECO_NVML_STUB_SCRIPT",
           "device name=Stepping period_ms=20 phase_ms=7 jitter_ms=3; power 0 0 300" + extra},
          {"ECO_NVML_STUB_EPOCH", fmt::format("{:.9f}", epoch)}};
}

TEST(MeasureCli, WindowsAreAlignedToCounterUpdatesByDefault) {
  const fs::path json = temp_file("aligned.json");
  const Outcome o =
      run_cli({"measure", "--interval-ms", "5", "--json", json.string(), "--", "sleep", "0.25"},
              stepping_driver(steady_now()));
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("window: aligned to counter updates"), std::string::npos) << o.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  const auto& w = j["runs"][0]["window"];
  const auto& d = w["devices"][0];
  EXPECT_TRUE(d["aligned"].get<bool>());
  // 300 W throughout: the exact energy is 300 W x the window's duration.
  const double exact = 300.0 * w["duration_s"].get<double>();
  EXPECT_LE(std::fabs(d["gross_j"].get<double>() - exact), d["uncertainty_j"].get<double>());
  // Under one update, a plain window's worst case. (Typically under half of one; the brackets
  // widen with the reads' duration, which a loaded 2-core CI host stretches: 3.1 J was seen.)
  EXPECT_LT(d["uncertainty_j"].get<double>(), 300 * 0.020);
  const Outcome plain =
      run_cli({"measure", "--plain-windows", "--json", json.string(), "--", "sleep", "0.05"},
              stepping_driver(steady_now()));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_FALSE(
      nlohmann::json::parse(std::ifstream(json))["runs"][0]["window"]["devices"][0]["aligned"]
          .get<bool>());
  fs::remove(json);
}

// `measure` measures the counter's period before the command, so an aligned window takes its
// tail from the counter: a stepping counter without jitter, and a power field that holds each
// reading for 100 ms (an H200's), which the tail would otherwise be integrated from.
TEST(MeasureCli, AlignedWindowsTakeTheirTailFromTheCounter) {
  const fs::path json = temp_file("tail.json");
  const Outcome o =
      run_cli({"measure", "--interval-ms", "5", "--json", json.string(), "--", "sleep", "0.25"},
              {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
               {"ECO_NVML_STUB_SCRIPT",
                "device name=Stepping period_ms=20 phase_ms=7 power_refresh_ms=100; power 0 0 300"},
               {"ECO_NVML_STUB_EPOCH", fmt::format("{:.9f}", steady_now())}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("counter update period: 20.0 ms"), std::string::npos) << o.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  const auto& w = j["runs"][0]["window"];
  const auto& d = w["devices"][0];
  ASSERT_TRUE(d["aligned"].get<bool>()) << d["notes"].dump();
  for (const auto& note : d["notes"])
    EXPECT_EQ(note.get<std::string>().find("tail energy from power readings"), std::string::npos)
        << note;
  EXPECT_LE(std::fabs(d["gross_j"].get<double>() - 300.0 * w["duration_s"].get<double>()),
            d["uncertainty_j"].get<double>());
  fs::remove(json);
}

TEST(MeasureCli, WindowShorterThanOneCounterUpdateReportsTheTimelineFlagged) {
  const fs::path json = temp_file("short.json");
  const double epoch = steady_now();
  const Outcome o =
      run_cli({"measure", "--plain-windows", "--interval-ms", "2", "--json", json.string(), "--",
               "sleep", "0.1"},
              {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
               {"ECO_NVML_STUB_SCRIPT", "device period_ms=60000 phase_ms=30000; power 0 0 300"},
               {"ECO_NVML_STUB_EPOCH", fmt::format("{:.9f}", epoch)}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  const auto& w = j["runs"][0]["window"];
  const auto& d = w["devices"][0];
  EXPECT_EQ(d["counter_updates"], 0);
  EXPECT_EQ(d["source"], "timeline");
  EXPECT_TRUE(d["too_short"].get<bool>());
  EXPECT_NEAR(d["gross_j"].get<double>(), 300.0 * w["duration_s"].get<double>(), 1.0);
  EXPECT_EQ(o.output.find(" 0.00 J gross"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("shorter than one counter update"), std::string::npos) << o.output;
  fs::remove(json);
}

TEST(MeasureCli, DeviceWithoutCounterWarnsInEveryOutput) {
  const fs::path json = temp_file("nocounter.json"), timeline = temp_file("nocounter.csv");
  const Outcome o = run_cli(
      {"measure", "--interval-ms", "5", "--json", json.string(), "--timeline", timeline.string(),
       "--", "sleep", "0.2"},
      {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
       {"ECO_NVML_STUB_SCRIPT", "device name=Old; power 0 0 150; error energy NOT_SUPPORTED"}});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("fallback: energy integrated from the power timeline"), std::string::npos)
      << o.output;
  const auto d = nlohmann::json::parse(std::ifstream(json))["runs"][0]["window"]["devices"][0];
  EXPECT_TRUE(d["fallback_used"].get<bool>());
  EXPECT_FALSE(d["aligned"].get<bool>());
  EXPECT_NE(d["notes"].dump().find("no energy counter"), std::string::npos) << d.dump();
  std::ifstream csv(timeline);
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_NE(header.find("energy_source"), std::string::npos);
  EXPECT_EQ(row.substr(row.rfind(',') + 1), "timeline");
  const Outcome m = run_cli(
      {"monitor", "--interval-ms", "100", "--duration", "0.2"},
      {{"ECO_NVML_LIBRARY", ECO_NVML_STUB},
       {"ECO_NVML_STUB_SCRIPT", "device name=Old; power 0 0 150; error energy NOT_SUPPORTED"}});
  ASSERT_EQ(m.exit_code, 0) << m.output;
  EXPECT_NE(m.output.find("warning: GPU 0 (Old) has no energy counter"), std::string::npos)
      << m.output;
  fs::remove(json);
  fs::remove(timeline);
}

TEST(MeasureCli, WriteErrorsFailNonZeroAndNameTheFile) {
  for (const char* option : {"--timeline", "--json"}) {
    for (const char* path : {"/dev/full", "/proc/version"}) {
      const Outcome o = run_cli({"measure", option, path, "--", "true"}, kNoDriver);
      EXPECT_NE(o.exit_code, 0) << option << " " << path << "\n" << o.output;
      EXPECT_NE(o.output.find(fmt::format("{}: ", option)), std::string::npos) << o.output;
      EXPECT_NE(o.output.find(path), std::string::npos) << o.output;
    }
  }
  const Outcome m = run_cli(
      {"monitor", "--interval-ms", "50", "--duration", "0.2", "--csv", "/dev/full"}, kNoDriver);
  EXPECT_NE(m.exit_code, 0) << m.output;
  EXPECT_NE(m.output.find("--csv: writing '/dev/full' failed"), std::string::npos) << m.output;
}

TEST(MeasureCli, OutputPathsAreCheckedBeforeTheCommandRuns) {
  const fs::path marker = temp_file("ran");
  fs::remove(marker);
  for (const char* option : {"--json", "--timeline"}) {
    const Outcome o = run_cli(
        {"measure", option, "/nonexistent-dir/out", "--", "touch", marker.string()}, kNoDriver);
    EXPECT_NE(o.exit_code, 0) << o.output;
    EXPECT_NE(o.output.find(fmt::format("{}: cannot create '/nonexistent-dir/out'", option)),
              std::string::npos)
        << o.output;
    EXPECT_FALSE(fs::exists(marker)) << "the command ran although its results could not be saved";
  }
}

TEST(MeasureCli, NanAndInfinityAreRefused) {
  const std::vector<std::vector<std::string>> cases = {
      {"measure", "--idle-seconds", "nan", "--", "true"},
      {"measure", "--tokens", "nan", "--", "true"},
      {"measure", "--tokens", "inf", "--", "true"},
      {"monitor", "--duration", "nan"}};
  for (const auto& args : cases) {
    const Outcome o = run_cli(args, kNoDriver);
    EXPECT_NE(o.exit_code, 0) << args[1] << " " << args[2];
    EXPECT_NE(o.output.find(fmt::format("{}: '{}' is not a finite number", args[1], args[2])),
              std::string::npos)
        << o.output;
    EXPECT_LT(o.seconds, 30.0);
  }
}

TEST(MeasureCli, WindowEndsWhenTheCommandExitsNotWhenItsOutputCloses) {
  // The shell prints the count and exits at once, leaving a sleeper that holds the output open.
  const Outcome o = run_cli({"measure", "--tokens-from-output", "n=(\\d+)", "--", "sh", "-c",
                             "echo n=5; sleep 20 & exit 0"},
                            kNoDriver);
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("Tokens: 5"), std::string::npos) << o.output;
  const auto at = o.output.find("Duration: ");
  ASSERT_NE(at, std::string::npos) << o.output;
  EXPECT_LT(std::stod(o.output.substr(at + 10)), 2.0) << o.output;
  EXPECT_LT(o.seconds, 10.0);
}

TEST(MeasureCli, KillNineOfEcocomputeDoesNotOrphanTheCommand) {
  const fs::path pid_file = temp_file("child.pid");
  fs::remove(pid_file);
  const pid_t eco = ::fork();
  if (eco == 0) {
    ::setenv("ECO_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    const std::string script = fmt::format("echo $$ > {}.tmp && mv {}.tmp {} && exec sleep 60",
                                           pid_file.string(), pid_file.string(), pid_file.string());
    ::execl(ECO_BINARY, ECO_BINARY, "measure", "--", "sh", "-c", script.c_str(), nullptr);
    ::_exit(126);
  }
  const double deadline = steady_now() + 30;
  while (!fs::exists(pid_file) && steady_now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(pid_file));
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  ASSERT_GT(child, 0);
  ::kill(eco, SIGKILL);
  ::waitpid(eco, nullptr, 0);
  // Gone, or a zombie waiting for a reaper: either way no longer running.
  auto running = [child] {
    std::ifstream stat(fmt::format("/proc/{}/stat", child));
    std::string pid, comm, state;
    if (!(stat >> pid >> comm >> state)) return false;
    return state != "Z" && state != "X";
  };
  const double until = steady_now() + 5;
  while (running() && steady_now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(running()) << "pid " << child << " still runs after ecocompute was killed";
  if (running()) ::kill(child, SIGKILL);
  fs::remove(pid_file);
}

TEST(MonitorCli, CounterUpdatesReportsTheScriptedPeriodAndJitter) {
  const fs::path csv_path = temp_file("changes.csv");
  const Outcome o =
      run_cli({"monitor", "--counter-updates", "--duration", "0.6", "--csv", csv_path.string()},
              stepping_driver(steady_now()));
  ASSERT_EQ(o.exit_code, 0) << o.output;
  const auto at = o.output.find("period ");
  ASSERT_NE(at, std::string::npos) << o.output;
  EXPECT_NEAR(std::stod(o.output.substr(at + 7)), 20.0, 1.5) << o.output;  // period_ms=20
  // Change times jitter by [0, 3) ms around the fit (plus the timing of a busy machine).
  const auto sd = o.output.find("around the fit: sd ");
  ASSERT_NE(sd, std::string::npos) << o.output;
  EXPECT_LT(std::stod(o.output.substr(sd + 19)), 5.0) << o.output;
  const auto power = o.output.find("mean power from the increments ");
  ASSERT_NE(power, std::string::npos) << o.output;
  EXPECT_NEAR(std::stod(o.output.substr(power + 31)), 300.0, 30.0) << o.output;
  std::ifstream csv(csv_path);
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "device,t_s,half_width_s,energy_mj,increment_mj");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_GE(rows, 20);  // about 30 changes in 0.6 s
  fs::remove(csv_path);
  const Outcome none = run_cli({"monitor", "--counter-updates", "--duration", "0.1"}, kNoDriver);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.output.find("--counter-updates: no GPU to watch"), std::string::npos)
      << none.output;
}

}  // namespace
