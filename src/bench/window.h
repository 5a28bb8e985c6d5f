#pragma once
// The protocol's metered window: the meter's ScopedWindow with the protocol's alignment. It
// cannot outlive its scope: if the work inside throws (out of memory at a large batch, a kernel
// error), the window is cancelled on the way out, so the meter is clean for the next
// configuration instead of refusing its windows as "already open".
#include <string>

#include "bench/protocol.h"
#include "ecocompute/meter.h"

namespace eco::bench {

class Window {
 public:
  Window(meter::Meter& m, std::string name, const ProtocolOptions& p)
      : window_(m, std::move(name), options(p)) {}

  // Closes the window and returns its figures.
  meter::WindowResult end() { return window_.end(); }

 private:
  static meter::WindowOptions options(const ProtocolOptions& p) {
    meter::WindowOptions o;
    o.aligned = p.windows == WindowMode::Aligned;
    o.reuse_change_s = p.reuse_change_s;
    return o;
  }
  meter::ScopedWindow window_;
};

}  // namespace eco::bench
