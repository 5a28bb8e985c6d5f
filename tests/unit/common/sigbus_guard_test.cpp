// A mapped file that shrinks while in use ends the process with an error naming the file
// (status 1), not a bare SIGBUS; a SIGBUS outside any guarded range keeps its default action.
#include "common/sigbus_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace eco {
namespace {

namespace fs = std::filesystem;

// Maps a 64 KiB file, optionally guards it, truncates it to 0 and reads its last page. Runs in
// the death test's child, which re-runs SetUp: the path carries the child's pid.
[[noreturn]] void touch_truncated(const fs::path& path, bool guarded) {
  std::ofstream(path, std::ios::binary) << std::string(65536, 'x');
  const int fd = ::open(path.c_str(), O_RDONLY);
  void* map = ::mmap(nullptr, 65536, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) std::_Exit(5);
  SigbusGuard guard(guarded ? map : nullptr, 65536, path.string());
  ::truncate(path.c_str(), 0);
  ::unlink(path.c_str());  // the mapping keeps the (now empty) file; nothing is left behind
  volatile char c = static_cast<const char*>(map)[65535];
  (void)c;
  std::_Exit(0);
}

class SigbusGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    path_ = fs::temp_directory_path() / ("eco_sigbus_" + std::to_string(::getpid()) + ".bin");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  fs::path path_;
};

TEST_F(SigbusGuardTest, TruncatedMappingIsAnErrorNamingTheFile) {
  EXPECT_EXIT(touch_truncated(path_, true), ::testing::ExitedWithCode(1),
              "error: .*eco_sigbus_.*became shorter while it was being read");
}

TEST_F(SigbusGuardTest, UnguardedMappingKeepsTheDefaultAction) {
  EXPECT_EXIT(touch_truncated(path_, false), ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace eco
