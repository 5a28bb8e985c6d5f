#pragma once
// Update-aligned window boundaries. NVML's energy counter changes in steps (about every 100 ms),
// so a window read at arbitrary times is off by up to one step at each end. An aligned window
// starts the work right after a change and, at its end, waits for the next change and removes
// the energy of the tail between the work's end and that change, integrated from power readings
// taken while waiting. docs/METHODOLOGY.md ("Update-aligned windows") derives the bound.
#include <string>
#include <vector>

#include "ecocompute/meter.h"
#include "meter/sampler.h"

namespace eco::meter {

// One observed change of a device's energy counter.
struct CounterEdge {
  bool seen = false;             // the value changed before the timeout
  double before_mj = 0;          // last value read before the change
  double value_mj = 0;           // first value read after it
  double t = 0;                  // estimated change time: middle of the bracket
  double half_width_s = 0;       // the change happened within t +- half_width_s
  std::vector<Sample> readings;  // power and counter read while waiting, in time order
};

// Polls the counters of the devices with want[d] set, about every poll_s on the calling thread,
// until each has changed once with a sharp bracket, or timeout_s has passed. A bracket is sharp
// when it is no wider than the poll period plus two typical reads (the median of this wait's
// read durations), plus 2 x slack_s: wider means the thread was descheduled between the two
// reads, and the wait goes on for the next change (the latest change seen is returned either
// way). This keeps the criterion right for sensors whose reads take a few milliseconds and vary
// (NVML on an H200: 2.5-4.2 ms); judged against the quickest read instead, ordinary reads can
// fail it, and the H200's aligned begin waits had a median of 108 ms, more than the half period
// a random phase costs (docs/BENCHMARKS.md).
// Devices not wanted get an unseen edge.
std::vector<CounterEdge> wait_for_counter_changes(Sampler& sampler, const std::vector<bool>& want,
                                                  double timeout_s, double poll_s = 0.001,
                                                  double slack_s = 0.001);

struct AlignedInput {
  CounterEdge start_edge, end_edge;
  Sample start, end;              // the device's boundary samples: the work runs between them
  double power_tolerance = 0.05;  // relative error assumed for power readings (tail, head)
  // The counter's update period (measured, e.g. bench/counter_period.h); 0 when unknown. With
  // it the tail is taken from the counter's own last increment instead of the power readings,
  // which on an H200 hold their value for about 100 ms and so still show the load in the tail.
  double counter_period_s = 0;
  std::vector<Sample> inside;  // the device's timeline samples in the window (checks the period)
};

struct AlignedEnergy {
  double joules = 0;               // energy from start.t to end.t
  double uncertainty_j = 0;        // bound on |joules - true energy| under the stated assumptions
  double head_s = 0;               // from the start edge to the work's start
  double tail_s = 0;               // from the work's end to the end edge
  double tail_j = 0;               // the energy removed for the tail
  bool tail_from_counter = false;  // the tail came from the counter's last increment
  std::string tail_note;           // why a given period could not be used for the tail; else empty
  std::string problem;             // non-empty: unusable (e.g. the counter went down); use plain
};

// (end value - start value) minus the head and tail energies; pure arithmetic for unit tests.
// The tail, with a counter period: the end sample shows the counter's value at its last change c
// before the work's end, and c lies a whole number of periods before the end edge (the number
// of changes the end wait saw after the end sample); the window holds the counter's energy from
// the start edge to c, less the head, plus the work from c to its end at the work's own mean
// rate up to c; the tail is the rest of the span. Without a period (or when it does not fit the
// changes seen), the tail is integrated from the power readings taken while waiting.
AlignedEnergy aligned_energy(const AlignedInput& in);

}  // namespace eco::meter
