#pragma once
// A metered window that cannot outlive its scope: if the work inside throws (out of memory at
// a large batch, a kernel error), the window is cancelled on the way out, so the meter is clean
// for the next configuration instead of refusing its windows as "already open".
#include <string>

#include "bench/protocol.h"
#include "ecocompute/meter.h"

namespace eco::bench {

class Window {
 public:
  Window(meter::Meter& m, std::string name, WindowMode mode);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Closes the window and returns its figures.
  meter::WindowResult end();

 private:
  meter::Meter& meter_;
  std::string name_;
  bool open_ = false;
};

}  // namespace eco::bench
