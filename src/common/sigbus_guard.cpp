#include "common/sigbus_guard.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace eco {

namespace {

constexpr int kSlots = 256;
constexpr size_t kMessageBytes = 1024;

// The handler reads these without locks: `end` is published last (release) and cleared first,
// so a slot is either complete or ignored.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  char message[kMessageBytes] = {};
  size_t length = 0;
};

Slot g_slots[kSlots];
std::mutex g_claim;  // serialises registration, never taken by the handler
bool g_installed = false;

void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  if (info->si_code > 0) {  // raised by a fault, not sent with kill()
    for (const Slot& s : g_slots) {
      const uintptr_t end = s.end.load(std::memory_order_acquire);
      if (end != 0 && addr >= s.begin.load(std::memory_order_relaxed) && addr < end) {
        [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, s.message, s.length);
        ::_exit(1);
      }
    }
  }
  // Not ours: the default action (the faulting instruction runs again and the process dies).
  ::signal(sig, SIG_DFL);
  if (info->si_code <= 0) ::raise(sig);
}

void install_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
  g_installed = true;
}

}  // namespace

SigbusGuard::SigbusGuard(const void* base, size_t size, const std::string& path) {
  if (base == nullptr || size == 0) return;
  std::lock_guard lock(g_claim);
  if (!g_installed) install_handler();
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    if (s.end.load(std::memory_order_relaxed) != 0) continue;
    const std::string text =
        "ecocompute: error: " + path +
        ": the file became shorter while it was being read (truncated or rewritten while in "
        "use); nothing more was read from it. Copy the file again, then re-run\n";
    s.length = std::min(text.size(), kMessageBytes);
    std::memcpy(s.message, text.data(), s.length);
    s.begin.store(reinterpret_cast<uintptr_t>(base), std::memory_order_relaxed);
    s.end.store(reinterpret_cast<uintptr_t>(base) + size, std::memory_order_release);
    slot_ = i;
    return;
  }
}

SigbusGuard::~SigbusGuard() {
  if (slot_ < 0) return;
  std::lock_guard lock(g_claim);
  g_slots[slot_].end.store(0, std::memory_order_release);
}

}  // namespace eco
