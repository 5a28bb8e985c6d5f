// The worker pool fails with a clear error when its threads cannot be created (it used to wait
// forever for workers that never started), and ECO_THREADS is checked and capped. Each case runs
// in a fresh process (a death test), since the thread count is read once per process.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/parallel.h"

namespace eco {
namespace {

// Runs a parallel_for in this (forked) process; exits 3 with the eco::Error text on stderr, 0 if
// it worked. SIGALRM ends a hang.
[[noreturn]] void run_pool(const char* threads, rlim_t address_space) {
  ::alarm(60);
  ::setenv("ECO_THREADS", threads, 1);
  if (address_space != 0) {
    const rlimit lim{address_space, address_space};
    ::setrlimit(RLIMIT_AS, &lim);
  }
  try {
    std::atomic<size_t> sum{0};
    parallel_for(100000, [&](size_t b, size_t e) { sum += e - b; });
    std::_Exit(sum == 100000 ? 0 : 4);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(3);
  }
}

class ParallelLimits : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ParallelLimits, ThreadCreationFailureIsAnErrorNotAHang) {
  // 1000 workers with 8 MiB stacks need ~8 GB of address space; 1.5 GB allows a few hundred.
  EXPECT_EXIT(run_pool("1000", rlim_t(1536) << 20), ::testing::ExitedWithCode(3),
              "cannot start 999 worker threads.*ECO_THREADS");
}

TEST_F(ParallelLimits, ThreadCountAboveTheCapIsRefused) {
  EXPECT_EXIT(run_pool("100000", 0), ::testing::ExitedWithCode(3),
              "ECO_THREADS='100000'.*from 1 to 1024");
}

TEST_F(ParallelLimits, ThreadCountMustBeANumber) {
  EXPECT_EXIT(run_pool("lots", 0), ::testing::ExitedWithCode(3), "ECO_THREADS='lots'");
  EXPECT_EXIT(run_pool("-2", 0), ::testing::ExitedWithCode(3), "ECO_THREADS='-2'");
}

TEST_F(ParallelLimits, AReasonableCountWorks) {
  EXPECT_EXIT(run_pool("3", 0), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace eco
