#include "store/output_guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"

namespace eco::store {

namespace {

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

}  // namespace

bool on_read_only_storage(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::error_code ec;
  const auto wal = std::filesystem::file_size(path.string() + "-wal", ec);
  return ::access(dir.c_str(), W_OK) != 0 && (ec || wal == 0);
}

bool is_sqlite_file(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO at the output path must not hang this check.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  char header[16] = {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  const bool read_all = regular && ::read(fd, header, sizeof header) == ssize_t(sizeof header);
  ::close(fd);
  return read_all && std::memcmp(header, "SQLite format 3", 16) == 0;
}

void refuse_output_over_database(const std::filesystem::path& out, const std::filesystem::path& db,
                                 std::string_view option) {
  if (same_file(out, db))
    fail(
        "{} '{}' is the study database itself (--db '{}'); writing there would destroy the "
        "study. Nothing was written: choose another output file",
        option, out.string(), db.string());
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::filesystem::path side = db.string() + suffix;
    if (same_file(out, side) || out.lexically_normal() == side.lexically_normal())
      fail(
          "{} '{}' is the study's {} file; writing there would corrupt the study. Nothing was "
          "written: choose another output file",
          option, out.string(), suffix + 1);
  }
  if (is_sqlite_file(out))
    fail(
        "{} '{}' is an existing SQLite database (perhaps another study); it was left unchanged. "
        "Choose another output file",
        option, out.string());
}

}  // namespace eco::store
