#include "store/study_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "common/error.h"

namespace eco::store {

namespace fs = std::filesystem;

StudyLock::~StudyLock() {
  if (fd_ >= 0) ::close(fd_);
}

StudyLock::StudyLock(StudyLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StudyLock& StudyLock::operator=(StudyLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

StudyLock StudyLock::acquire(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("cannot open database '{}' ({})", path.string(), std::strerror(errno));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK)
      fail(
          "study '{}' is being written by another ecocompute process (a bench or run on the "
          "same --db); wait for it to finish, or give this one another --db",
          path.string());
    fail("cannot lock database '{}' ({})", path.string(), std::strerror(err));
  }
  return StudyLock(fd);
}

void remove_stale_creations(const fs::path& db) {
  const fs::path dir = db.has_parent_path() ? db.parent_path() : fs::path(".");
  const std::string prefix = db.filename().string() + ".creating-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(name).substr(prefix.size());
    const size_t digits = rest.find_first_not_of("0123456789");
    const std::string_view pid_text = rest.substr(0, digits);
    const std::string_view tail = digits == std::string_view::npos ? "" : rest.substr(digits);
    if (pid_text.empty() || pid_text.size() > 9 || !(tail.empty() || tail == "-journal")) continue;
    const pid_t pid = pid_t(std::stol(std::string(pid_text)));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

}  // namespace eco::store
