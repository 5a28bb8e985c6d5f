#pragma once
// Runs a foreign command for `ecocompute measure`: fork + execvp (no shell), optional tee of its
// stdout/stderr into a buffer (to find a token count in it), SIGINT/SIGTERM sent to ecocompute
// forwarded to the child, and the child's status turned into a shell-style exit code. run_child
// returns when the command exits, even when processes it left in the background still hold its
// output open; the command is sent SIGTERM if ecocompute itself dies.
#include <cstddef>
#include <string>
#include <vector>

namespace eco::meter {

struct ChildOptions {
  std::vector<std::string> argv;            // argv[0] is looked up in PATH
  bool capture_output = false;              // tee stdout+stderr into ChildResult::output
  size_t capture_limit = size_t{16} << 20;  // keep at most the last this many bytes
};

struct ChildResult {
  int exit_code = 0;         // status, or 128 + signal number; 127/126 when exec failed
  int signal = 0;            // the signal that ended it (0: it exited)
  bool interrupted = false;  // ecocompute received SIGINT/SIGTERM while the child ran
  std::string exec_error;    // non-empty: the command could not be started
  std::string output;        // captured stdout+stderr (capture_output only)
};

// Throws eco::Error when argv is empty or the process cannot be created.
ChildResult run_child(const ChildOptions& options);

}  // namespace eco::meter
