#pragma once
// One writer per study: a process that opens a study for writing holds an exclusive flock(2) on
// the database file for as long as it has it open. A second writer (two `bench --resume` of one
// study, two `bench` creating the same new --db) is refused at once with a clear error instead of
// interleaving its runs with the first one's. Readers (export, report, serve) take no lock.
//
// flock locks are independent of the POSIX record locks SQLite uses, and the kernel drops them
// when the holder dies (kill -9 included), so a crashed sweep never leaves a study locked.
#include <filesystem>
#include <string>

namespace eco::store {

class StudyLock {
 public:
  StudyLock() = default;
  // Takes ownership of `fd` (already locked).
  explicit StudyLock(int fd) : fd_(fd) {}
  ~StudyLock();
  StudyLock(StudyLock&& other) noexcept;
  StudyLock& operator=(StudyLock&& other) noexcept;
  StudyLock(const StudyLock&) = delete;
  StudyLock& operator=(const StudyLock&) = delete;

  // Locks the existing database at `path` without waiting; eco::Error when another process
  // holds it.
  static StudyLock acquire(const std::filesystem::path& path);

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Removes `<db>.creating-<pid>` files (and their -journal) left by a creator that was killed:
// those whose process no longer exists.
void remove_stale_creations(const std::filesystem::path& db);

}  // namespace eco::store
