#pragma once
// Subcommand registry: each cli/<name>.cpp registers itself with ECO_COMMAND, so adding a
// subcommand touches one file. main.cpp builds the CLI11 app from the registry.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace eco::cli {

// Adds options to `sub` and sets its callback (sub.callback(...)).
using SetupFn = void (*)(CLI::App& sub);

struct Command {
  std::string name;
  std::string description;
  SetupFn setup;
};

std::vector<Command>& registry();
bool register_command(const char* name, const char* description, SetupFn setup);

// Thrown by a callback to end the program with a given status after a normal return
// (e.g. `measure` propagating the child's exit status).
struct ExitCode {
  int code;
};

}  // namespace eco::cli

#define ECO_COMMAND(name, description, fn) \
  static const bool eco_cli_registered_##fn = ::eco::cli::register_command(name, description, fn)
