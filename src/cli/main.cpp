// ecocompute: one binary, one subcommand per file in this folder.
#include <algorithm>
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/version.h"

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

int main(int argc, char** argv) {
  using namespace eco::cli;
  CLI::App app{"ecocompute: what LLM inference costs in energy, and why"};
  app.set_version_flag("--version", fmt::format("ecocompute {} ({})", ECO_VERSION, ECO_GIT_COMMIT));
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
    return e.code;
  } catch (const eco::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "ecocompute: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "ecocompute: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
