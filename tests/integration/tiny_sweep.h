#pragma once
// The in-process protocol tests' common start: a fresh temporary folder for the study and the
// sweep of one configuration of the tiny synthetic model on the CPU engine, which each test
// then gives its own protocol.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "bench/sweep_spec.h"

namespace eco::bench {

// temp/eco_<name>_<pid>, emptied; the synthetic model cache is shared by the tests.
inline std::filesystem::path fresh_test_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_{}_{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::setenv("ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_bench_test_cache").c_str(), 1);
  return dir;
}

// synthetic:tiny in fp32 at batch 1, an 8-token prompt and `gen_len` new tokens, on the CPU.
inline SweepSpec tiny_cpu_sweep(int gen_len) {
  SweepSpec spec;
  spec.models = {"synthetic:tiny"};
  spec.formats = {"fp32"};
  spec.batches = {1};
  spec.prompt_lens = {8};
  spec.gen_lens = {gen_len};
  spec.device = "cpu";
  return spec;
}

}  // namespace eco::bench
