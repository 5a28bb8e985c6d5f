// `ecocompute version`: version, commit and what this build contains.
#include <fmt/format.h>

#include "cli/command.h"
#include "common/version.h"
#include "engine/engine.h"

namespace {

void setup(CLI::App& sub) {
  sub.callback([] {
    fmt::print("ecocompute {} (commit {})\n", eco::version(), eco::git_commit());
#ifdef ECO_HAVE_CUDA
    fmt::print("CUDA engine: compiled in; device available: {}\n",
               eco::engine::cuda_available() ? "yes" : "no");
#else
    fmt::print("CUDA engine: not compiled (no CUDA toolkit at build time)\n");
#endif
  });
}

}  // namespace

ECO_COMMAND("version", "Print the version, commit and compiled-in backends", setup);
