#include "meter/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace eco::meter {

namespace {

// Lock-free atomics: the handler may run on any thread (the sampler's too), concurrently with
// run_child.
std::atomic<pid_t> g_child{0};
std::atomic<int> g_pending{0};  // a signal to forward that no one has forwarded yet
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<pid_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free &&
              std::atomic<bool>::is_always_lock_free);

// Sends the pending signal to `child`, unless another thread already took it: the handler and
// run_child (for a signal that came before the child's pid was known) each try, exactly one
// sends.
void forward_pending(pid_t child) {
  if (const int sig = g_pending.exchange(0); sig != 0) ::kill(child, sig);
}

// A terminal's Ctrl-C already reaches the child (same process group; si_code SI_KERNEL), so only
// signals sent to ecocompute itself (kill, timeout, a CI runner: SI_USER and friends) are
// forwarded; forwarding the terminal's too would deliver it twice.
void forward(int sig, siginfo_t* info, void*) {
  g_interrupted = true;
  if (info && info->si_code == SI_KERNEL) return;
  g_pending = sig;
  if (const pid_t child = g_child; child > 0) forward_pending(child);
}

struct SignalGuard {
  struct sigaction old_int {
  }, old_term{};
  SignalGuard() {
    struct sigaction sa {};
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalGuard() {
    g_child = 0;
    g_pending = 0;
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

void write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // our own stdout closed: keep draining the child regardless
    data += w;
    n -= static_cast<size_t>(w);
  }
}

// True once the child has exited; it stays a zombie (WNOWAIT) for run_child's waitpid.
bool child_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// One read from a pipe into our stream and `out`; false at end of file or on an error.
bool copy_once(int fd, int ours, std::string& out, size_t limit) {
  char buffer[65536];
  ssize_t n;
  do {
    n = ::read(fd, buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  write_all(ours, buffer, static_cast<size_t>(n));
  out.append(buffer, static_cast<size_t>(n));
  if (out.size() > limit) out.erase(0, out.size() - limit);
  return true;
}

// Copies the child's stdout/stderr to ours and into `out` until the child exits (not until the
// pipes close: a process it left in the background may hold them open much longer, and the
// measurement is of the command), then takes what is already in the pipes and closes them.
void tee(pid_t pid, int child_out, int child_err, std::string& out, size_t limit) {
  // A pidfd wakes poll() the moment the child exits; without one (kernel < 5.3), poll in 2 ms
  // steps and ask waitid.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  pollfd fds[3] = {{child_out, POLLIN, 0}, {child_err, POLLIN, 0}, {pidfd, POLLIN, 0}};
  const int ours[2] = {STDOUT_FILENO, STDERR_FILENO};
  bool exited = false;
  while (!exited && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
    for (pollfd& f : fds) f.revents = 0;
    if (::poll(fds, 3, pidfd >= 0 ? -1 : 2) < 0 && errno != EINTR) break;
    exited = (pidfd >= 0 && (fds[2].revents & POLLIN)) || child_exited(pid);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!copy_once(fds[i].fd, ours[i], out, limit)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0) continue;
    ::fcntl(fds[i].fd, F_SETFL, ::fcntl(fds[i].fd, F_GETFL) | O_NONBLOCK);
    while (copy_once(fds[i].fd, ours[i], out, limit)) {
    }
    ::close(fds[i].fd);
  }
  if (pidfd >= 0) ::close(pidfd);
}

}  // namespace

ChildResult run_child(const ChildOptions& options) {
  if (options.argv.empty()) eco::fail("no command to run: put it after '--'");
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int status_pipe[2], out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(status_pipe, O_CLOEXEC) != 0)
    eco::fail("cannot create a pipe: {}", std::strerror(errno));
  if (options.capture_output &&
      (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    eco::fail("cannot create a pipe: {}", std::strerror(errno));
  }
  std::fflush(nullptr);
  SignalGuard guard;
  g_interrupted = false;
  g_pending = 0;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0)
    eco::fail("cannot start '{}': fork failed: {}", options.argv[0], std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, nullptr);
    sigaction(SIGTERM, &dfl, nullptr);
    // If ecocompute dies (even by SIGKILL), the command gets SIGTERM instead of running on
    // unmetered; SIGTERM rather than SIGKILL lets it stop its own children.
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(127);
    if (options.capture_output) {
      ::dup2(out_pipe[1], STDOUT_FILENO);
      ::dup2(err_pipe[1], STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    const int e = errno;
    (void)!::write(status_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  g_child = pid;
  // A signal that came between the fork and the line above (the command already running, say
  // printing its first line) found no child to forward to: it goes now.
  forward_pending(pid);
  ::close(status_pipe[1]);
  ChildResult result;
  if (options.capture_output) {
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    tee(pid, out_pipe[0], err_pipe[0], result.output, options.capture_limit);
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;  // reaped: its pid may be reused
  result.interrupted = g_interrupted;
  if (n == sizeof exec_errno) {
    result.exec_error = std::strerror(exec_errno);
    result.exit_code = exec_errno == ENOENT ? 127 : 126;
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + result.signal;
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace eco::meter
