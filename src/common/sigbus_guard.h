#pragma once
// A file mapped with mmap raises SIGBUS when a page beyond its current end is touched, which is
// what happens when the file is truncated (or rewritten in place) while it is mapped. Ranges
// registered here turn that signal into an error message naming the file and exit status 1,
// instead of a crash with no explanation. A SIGBUS anywhere else keeps its default action.
//
// Exiting is the only safe way out of a fault in the middle of arbitrary code (a weight
// conversion on several threads); results already stored are committed transactions, so they
// survive as they do a kill.
#include <cstddef>
#include <string>

namespace eco {

class SigbusGuard {
 public:
  // Registers [base, base + size) as a mapping of `path` until the guard is destroyed.
  SigbusGuard(const void* base, size_t size, const std::string& path);
  ~SigbusGuard();
  SigbusGuard(const SigbusGuard&) = delete;
  SigbusGuard& operator=(const SigbusGuard&) = delete;

 private:
  int slot_ = -1;  // -1 when every slot was taken (the range is then unguarded)
};

}  // namespace eco
