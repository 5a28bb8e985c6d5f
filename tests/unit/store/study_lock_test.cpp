// One writer per study: creation is atomic and exclusive, a second writer is refused while the
// first holds the study, readers are not blocked, the lock dies with its process, and files left
// by a creator that was killed are cleaned up. Outputs are never written over a database.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "store/output_guard.h"
#include "store/reader.h"
#include "store/schema.h"
#include "store/store.h"

namespace eco::store {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class StudyLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_lock_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  template <typename F>
  std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  int count_creating_files() {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().string().find(".creating-") != std::string::npos) ++n;
    return n;
  }
  fs::path dir_;
};

int64_t application_id(const fs::path& path) {
  Database db(path.string(), Database::Mode::ReadOnly);
  return db.query_int("PRAGMA application_id");
}

TEST_F(StudyLockTest, ConcurrentCreatorsOfOneNewStudy) {
  // Eight processes released at once all create the same new --db. Each either owns the study
  // (exit 0) or is refused as a second writer (exit 3); nothing else, and the study is sound.
  const fs::path db = dir_ / "new.db";
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 0) std::_Exit(5);  // wait for the start (EOF)
      try {
        Store s = Store::open(db);
        s.add_session(
            {.started_at = utc_now(), .command = "t", .eco_version = "0", .eco_git_commit = "x"});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::_Exit(0);
      } catch (const Error& e) {
        const bool second_writer =
            std::string(e.what()).find("being written by another") != std::string::npos;
        if (!second_writer) std::fprintf(stderr, "child error: %s\n", e.what());
        std::_Exit(second_writer ? 3 : 4);
      }
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // releases every child at once
  int owners = 0;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    EXPECT_TRUE(code == 0 || code == 3) << "exit " << code;
    owners += code == 0;
  }
  EXPECT_GE(owners, 1);
  EXPECT_EQ(application_id(db), kApplicationId);
  Store s = Store::open(db);  // sound and unlocked afterwards
  EXPECT_EQ(count_creating_files(), 0);
}

TEST_F(StudyLockTest, SecondWriterIsRefusedReadersAreNot) {
  const fs::path db = dir_ / "s.db";
  {
    Store first = Store::open(db);
    EXPECT_THAT(error_of([&] { Store::open(db); }),
                AllOf(HasSubstr("s.db"), HasSubstr("being written by another ecocompute process")));
    EXPECT_NO_THROW(Store::open_read_only(db));
  }
  EXPECT_NO_THROW(Store::open(db));  // released with the first Store
}

TEST_F(StudyLockTest, LockDiesWithItsProcess) {
  const fs::path db = dir_ / "s.db";
  { Store::open(db); }
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) {  // the parent's probes may hold it for a moment
      try {
        Store s = Store::open(db);
        ::pause();  // held until killed
      } catch (const Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  // Wait until the child holds the study, then kill it as kill -9 would.
  bool held = false;
  for (int i = 0; i < 500 && !held; ++i) {
    held = error_of([&] { Store::open(db); }) != "no error";
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(held);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_NO_THROW(Store::open(db));
}

TEST_F(StudyLockTest, StaleCreationFilesAreRemoved) {
  // A creator killed mid-way leaves <db>.creating-<pid> (and its journal); its pid is gone.
  const pid_t dead = ::fork();
  if (dead == 0) std::_Exit(0);
  ::waitpid(dead, nullptr, 0);
  const fs::path db = dir_ / "s.db";
  const fs::path stale = db.string() + fmt::format(".creating-{}", dead);
  const fs::path stale_journal = stale.string() + "-journal";
  const fs::path live = db.string() + fmt::format(".creating-{}", ::getppid());
  for (const auto& p : {stale, stale_journal, live}) std::ofstream(p) << "partial";
  Store::open(db);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(stale_journal));
  EXPECT_TRUE(fs::exists(live));  // its creator may still be at work
}

// Runs `check` in a child process that sees `dir` as a read-only mount; returns what it wrote
// to `out`, or nullopt when this machine has no mount namespaces for us.
std::optional<std::string> on_read_only_mount(const fs::path& dir,
                                              const std::function<std::string()>& check) {
  int p[2];
  if (::pipe(p) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    const bool mounted =
        ::unshare(CLONE_NEWNS) == 0 &&
        ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
        ::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) == 0 &&
        ::mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0;
    if (!mounted) std::_Exit(77);
    const std::string result = check();
    if (::write(p[1], result.data(), result.size()) < 0) std::_Exit(1);
    std::_Exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return std::nullopt;
  return out;
}

TEST_F(StudyLockTest, ReadOnlyFileSystemIsNotReportedAsCorruption) {
  const fs::path ro = dir_ / "ro";
  fs::create_directories(ro);
  { Store::open(ro / "clean.db"); }
  {
    // A study copied while its writer was running: the log of its last commit still pending.
    Store s = Store::open(dir_ / "live.db");
    s.add_session(
        {.started_at = utc_now(), .command = "t", .eco_version = "0", .eco_git_commit = "x"});
    ASSERT_GT(fs::file_size(dir_ / "live.db-wal"), 0u);
    fs::copy_file(dir_ / "live.db", ro / "pending.db");
    fs::copy_file(dir_ / "live.db-wal", ro / "pending.db-wal");
  }
  const auto result = on_read_only_mount(ro, [&] {
    std::string r;
    try {  // a clean study reads as usual
      r += fmt::format("configs {}\n", Store::open_read_only(ro / "clean.db").configs().size());
    } catch (const Error& e) {
      r += fmt::format("clean: {}\n", e.what());
    }
    try {  // and so does the dashboard's reader
      r += fmt::format("reader sessions {}\n", StudyReader(ro / "clean.db").sessions().size());
    } catch (const Error& e) {
      r += fmt::format("reader: {}\n", e.what());
    }
    r += "writer: " + error_of([&] { Store::open(ro / "clean.db"); }) + "\n";
    r += "pending: " + error_of([&] { Store::open_read_only(ro / "pending.db"); }) + "\n";
    return r;
  });
  if (!result) GTEST_SKIP() << "no mount namespaces here";
  EXPECT_THAT(*result, HasSubstr("configs 0\n"));
  EXPECT_THAT(*result, HasSubstr("reader sessions 0\n"));
  EXPECT_THAT(*result, HasSubstr("writer: database"));
  EXPECT_THAT(*result, HasSubstr("Read-only file system"));
  EXPECT_THAT(*result, AllOf(HasSubstr("pending: cannot read database"), HasSubstr("read-only")));
  EXPECT_THAT(*result, Not(HasSubstr("corrupt")));
}

TEST_F(StudyLockTest, OutputsAreNeverWrittenOverADatabase) {
  const fs::path db = dir_ / "s.db";
  { Store::open(db); }
  auto refused = [&](const fs::path& out) {
    return error_of([&] { refuse_output_over_database(out, db, "--out"); });
  };
  EXPECT_THAT(refused(db), AllOf(HasSubstr("--out"), HasSubstr("study database itself")));
  EXPECT_THAT(refused(dir_ / "." / "s.db"), HasSubstr("itself"));
  fs::create_symlink(db, dir_ / "link.db");
  EXPECT_THAT(refused(dir_ / "link.db"), HasSubstr("itself"));
  fs::create_hard_link(db, dir_ / "hard.db");
  EXPECT_THAT(refused(dir_ / "hard.db"), HasSubstr("itself"));
  EXPECT_THAT(refused(db.string() + "-wal"), HasSubstr("wal file"));
  { Store::open(dir_ / "other.db"); }
  EXPECT_THAT(refused(dir_ / "other.db"), HasSubstr("existing SQLite database"));
  EXPECT_EQ(refused(dir_ / "report.csv"), "no error");
  std::ofstream(dir_ / "old.csv") << "a,b\n";
  EXPECT_EQ(refused(dir_ / "old.csv"), "no error");
  EXPECT_TRUE(is_sqlite_file(db));
  EXPECT_FALSE(is_sqlite_file(dir_ / "old.csv"));
}

}  // namespace
}  // namespace eco::store
