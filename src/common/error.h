#pragma once
// One exception type for every user-facing failure. The message names the input that was wrong
// and what to do about it; the CLI prints it and exits non-zero, nothing else catches it silently.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace eco {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace eco
