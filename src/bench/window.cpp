#include "bench/window.h"

namespace eco::bench {

Window::Window(meter::Meter& m, std::string name, WindowMode mode)
    : meter_(m), name_(std::move(name)) {
  (void)mode;  // aligned windows come with the meter's WindowOptions
  meter_.begin(name_);
  open_ = true;
}

Window::~Window() {
  if (!open_) return;
  try {
    (void)meter_.end(name_);  // discarded: the work inside did not complete
  } catch (...) {
    // Unwinding already: the original error is the one to report.
  }
}

meter::WindowResult Window::end() {
  open_ = false;
  return meter_.end(name_);
}

}  // namespace eco::bench
