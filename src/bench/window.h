#pragma once
// The protocol's metered window: the meter's ScopedWindow with the protocol's alignment. It
// cannot outlive its scope: if the work inside throws (out of memory at a large batch, a kernel
// error), the window is cancelled on the way out, so the meter is clean for the next
// configuration instead of refusing its windows as "already open".
#include <string>

#include "bench/measure.h"
#include "ecocompute/meter.h"

namespace eco::bench {

class Window {
 public:
  // Starts on the counter change that ended the previous window when nothing ran on the GPU
  // since (MeasureContext::window_just_ended): the head between that change and this window's
  // work is removed from power readings, which would not see a burst of work there.
  Window(MeasureContext& ctx, std::string name)
      : ctx_(ctx), window_(ctx.meter, std::move(name), options(ctx)) {}

  // Closes the window and returns its figures.
  meter::WindowResult end() {
    meter::WindowResult r = window_.end();
    ctx_.window_just_ended = true;
    return r;
  }

 private:
  static meter::WindowOptions options(const MeasureContext& ctx) {
    meter::WindowOptions o;
    o.aligned = ctx.protocol.windows == WindowMode::Aligned;
    o.reuse_change_s = ctx.window_just_ended ? ctx.protocol.reuse_change_s : 0;
    o.counter_period_s = ctx.counter_period_s;  // the tail from the counter, not stale readings
    return o;
  }
  MeasureContext& ctx_;
  meter::ScopedWindow window_;
};

}  // namespace eco::bench
