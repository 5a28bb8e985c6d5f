#pragma once
// The energy counter's update period, measured once per study: aligned windows are sized by
// duration (N periods) instead of by the counter changes the power sampler happens to see. A
// 10 Hz sampler beats against a 100 ms counter and sees one change fewer about half the time,
// so windows sized by seen changes grew about 1.4x on an H200 (docs/BENCHMARKS.md).
#include <cstdint>

#include "bench/progress.h"
#include "bench/protocol.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

// Polls every GPU's counter back to back for about a second (Meter::watch_counters) and
// returns the longest fitted period, recorded as the event `counter-period`. 0 (nothing polled)
// without energy, with plain windows or without a minimum window; 0 as well, recorded, when no
// device changed often enough to fit a period. The event says whether a device's changes
// stray more than 3 % of a period from the fitted grid (`irregular`).
double measure_counter_period(meter::Meter& meter, store::Store& store, ProgressSink& progress,
                              const ProtocolOptions& protocol, int64_t session_id, bool energy);

// The same measurement, neither recorded nor printed (`ecocompute measure`: its aligned windows
// take their tails from the counter with it); 0 as well for an irregular counter, whose
// changes the counter's tail rule could not place.
double watch_counter_period(meter::Meter& meter);

// A period measured by an earlier sweep of this process, recorded as the event `counter-period`
// with outcome "reused"; returns it.
double reuse_counter_period(double period_s, store::Store& store, ProgressSink& progress,
                            int64_t session_id);

// The duration a window must last to span `updates` counter updates: N periods, never less
// than N sampler intervals (the floor the protocol had before the period was known).
double window_target_s(int updates, double counter_period_s, const ProtocolOptions& p);

}  // namespace eco::bench
