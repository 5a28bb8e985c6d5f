// ecocompute: one binary, one subcommand per file in this folder.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <system_error>

#include <fmt/format.h>

#include "cli/command.h"
#include "common/error.h"
#include "common/version.h"

namespace eco::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

bool register_command(const char* name, const char* description, SetupFn setup) {
  registry().push_back({name, description, setup});
  return true;
}

}  // namespace eco::cli

namespace {

// A closed stdout (`ecocompute ... | head -1`) must not kill the process with SIGPIPE while it
// owns a child or a database: writes then fail with EPIPE, reported below. A handler rather than
// SIG_IGN, because an ignored SIGPIPE would be inherited by the commands `measure` runs.
void on_sigpipe(int) {}

// Diagnostics to stderr that cannot throw: when stderr itself is closed or full there is nobody
// to tell, and a throw from inside a handler below would abort the process.
template <typename... Args>
void say(fmt::format_string<Args...> format, Args&&... args) {
  const std::string text = fmt::format(format, std::forward<Args>(args)...);
  [[maybe_unused]] const size_t written = std::fwrite(text.data(), 1, text.size(), stderr);
}

int report_output_error(int err) {
  if (err == EPIPE)
    say("ecocompute: error: standard output was closed by the program reading it (broken "
        "pipe); the output is incomplete\n");
  else
    say("ecocompute: error: cannot write to standard output ({})\n", std::strerror(err));
  return 1;
}

// Everything written to stdout reached it: a full disk or a closed pipe found at the final
// flush is an error, not a silent exit 0.
int flush_stdout(int status) {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno != 0 ? errno : EIO;
    return status == 0 ? report_output_error(err) : status;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eco::cli;
  struct sigaction sa {};
  sa.sa_handler = on_sigpipe;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, nullptr);
  CLI::App app{"ecocompute: what LLM inference costs in energy, and why"};
  app.set_version_flag("--version",
                       fmt::format("ecocompute {} ({})", eco::version(), eco::git_commit()));
  app.require_subcommand(1);
  auto commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  for (const auto& c : commands) c.setup(*app.add_subcommand(c.name, c.description));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ExitCode& e) {
    return flush_stdout(e.code);
  } catch (const eco::Error& e) {
    std::fflush(stdout);
    say("ecocompute: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    say("ecocompute: error: out of memory; ask for less (a smaller --batch, --max-context "
        "or model) or free memory, then run again\n");
    return 1;
  } catch (const std::system_error& e) {
    // fmt::print reports a failed write as a system_error carrying errno; stdout's error flag
    // tells that write from other failures.
    if (std::ferror(stdout)) return report_output_error(e.code().value());
    if (std::ferror(stderr)) return 1;  // the diagnostics themselves could not be written
    std::fflush(stdout);
    say("ecocompute: internal error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    say("ecocompute: internal error: {}\n", e.what());
    return 2;
  }
  return flush_stdout(0);
}
