#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace eco {

namespace {

std::string mode_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string size_text(size_t bytes) {
  if (bytes >= (size_t(1) << 20)) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} bytes", bytes);
}

}  // namespace

std::string file_kind(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno == ENOENT ? "missing" : std::strerror(errno);
  return mode_kind(st.st_mode);
}

bool is_regular(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int open_regular_file(const std::filesystem::path& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) fail("{}: {} does not exist", path.string(), what);
    fail("{}: cannot open {} ({})", path.string(), what, std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot read {} ({})", path.string(), what, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: {} must be a regular file, but this is {}; replace it with the real file",
         path.string(), what, mode_kind(st.st_mode));
  }
  // Reads of a regular file never block; clear the flag so later reads behave as usual.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what) {
  const int fd = open_regular_file(path, what);
  struct stat st {};
  ::fstat(fd, &st);
  auto too_large = [&](size_t bytes) {
    ::close(fd);
    fail("{}: {} is {} or more, above the {} limit for this file; it is not a {}", path.string(),
         what, size_text(bytes), size_text(max_bytes), what);
  };
  if (size_t(st.st_size) > max_bytes) too_large(size_t(st.st_size));
  std::string text;
  text.resize(size_t(st.st_size));
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (text.size() > max_bytes) too_large(text.size());
      text.resize(std::min(max_bytes + 1, std::max<size_t>(4096, text.size() * 2)));
    }
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail("{}: error while reading {} ({})", path.string(), what, std::strerror(err));
    }
    if (n == 0) break;
    used += size_t(n);
  }
  ::close(fd);
  if (used > max_bytes) too_large(used);
  text.resize(used);
  return text;
}

}  // namespace eco
