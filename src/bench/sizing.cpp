// How many repetitions of prefill and of decode each window holds (docs/METHODOLOGY.md,
// "Protocol", minimum window). With aligned windows and a known counter period a window's need
// is a duration: prefill is timed on the host clock, and decode is metered at one repetition
// and then at its k; that last window is the configuration's own decode work, so it also serves
// as stabilisation's first window. Without a period the windows are sized by the counter
// changes metered probes see.
#include <algorithm>
#include <cmath>

#include "bench/counter_period.h"
#include "bench/measure.h"
#include "bench/window.h"
#include "ecocompute/meter.h"

namespace eco::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kWarmDecodeSteps = 2;

// Resolution of a window in "updates": counter updates, or power samples without a counter
// (the meter's own definition of too_short).
int resolution(const meter::WindowResult& r) {
  int best = -1;
  for (const auto& d : r.devices) {
    const int res = d.source == "counter" ? d.counter_updates : d.samples;
    best = best < 0 ? res : std::min(best, res);
  }
  return std::max(best, 0);
}

struct Probe {
  double seconds = 0;    // per repetition
  int updates = 0;       // in the whole window
  bool readable = true;  // every device gave an energy figure
};

// The last decode probe: when it ran at the final k with direct decode, its work was a
// stabilisation window's, and its observable is stabilisation's first value.
struct LastDecodeProbe {
  int k = 0;
  double value = kNaN;
  double start_s = 0;  // steady clock, before its prefill
};

// What a window of k repetitions showed.
Probe probe_of(const meter::WindowResult& r, int k) {
  return {r.duration_s / k, resolution(r), window_readable(r)};
}

// k prefills in one window.
Probe probe_prefill(MeasureContext& ctx, Workload& w, int k) {
  ctx.position_saved = false;
  Window win(ctx, "probe-prefill");
  for (int i = 0; i < k; ++i) w.prefill();
  return probe_of(win.end(), k);
}

// k decodes from one saved position (direct), or k whole runs (derived), in one window.
Probe probe_decode(MeasureContext& ctx, Workload& w, bool direct, int k, LastDecodeProbe& last) {
  last = {k, kNaN, ctx.meter.now()};
  if (direct) {
    to_post_prefill_position(ctx, w);
    const auto r = decode_window(ctx, w, k, "probe-decode");
    if (window_readable(r))
      last.value = decode_j_per_token(r, double(k) * double(w.decode_tokens()));
    return probe_of(r, k);
  }
  ctx.position_saved = false;
  Window win(ctx, "probe-decode");
  for (int i = 0; i < k; ++i) {
    w.prefill();
    w.decode();
  }
  return probe_of(win.end(), k);
}

// Grows k until its window sees enough counter updates: the probe's rate can be off for short
// windows (the reads at the window's ends count as updates too). A few attempts, at most 4x
// each, never beyond max_repetitions. A window without readings (the GPU lost, say) tells
// nothing about its length: k stays, and the runs record the fault.
template <typename ProbeFn>
int grow_until_seen(int k, const ProtocolOptions& p, ProbeFn probe) {
  for (int attempt = 0; attempt < 4 && k < p.max_repetitions; ++attempt) {
    const Probe seen_probe = probe(k);
    const int seen = seen_probe.updates;
    if (seen >= p.min_counter_updates || !seen_probe.readable) break;
    const double grown = std::ceil(1.25 * k * p.min_counter_updates / std::max(seen, 1));
    k = int(std::clamp(grown, double(k + 1), std::min(4.0 * k, double(p.max_repetitions))));
  }
  return k;
}

// Aligned windows with a known counter period: grows k until the window lasts its target
// (N periods); the duration, unlike the changes a sampler happens to see, does not beat
// against the counter, and it grows in proportion to k (each repetition is the whole phase),
// so each attempt goes straight to the length the last one showed was missing, with kHeadroom
// so that the measured runs, which vary a little, stay above the target. The first window may
// be a single repetition; a GPU's phases keep their length and the second then lasts, a loaded
// CPU's do not, hence a few more attempts.
constexpr double kHeadroom = 1.05;
constexpr int kSizingWindows = 6;
template <typename ProbeFn>
int grow_until_long(int k, double target_s, const ProtocolOptions& p, double& window_s,
                    ProbeFn probe) {
  for (int attempt = 0; attempt < kSizingWindows && k < p.max_repetitions; ++attempt) {
    const Probe seen = probe(k);
    window_s = seen.seconds * k;
    if (window_s >= target_s || !seen.readable) break;
    const double grown = std::ceil(k * kHeadroom * target_s / std::max(window_s, 1e-9));
    k = int(std::clamp(grown, double(k + 1), double(p.max_repetitions)));
  }
  return k;
}

int repetitions_for_duration(double phase_s, double target_s, const ProtocolOptions& p) {
  const double want = std::ceil(kHeadroom * target_s / std::max(phase_s, 1e-9));
  return int(std::clamp(want, 1.0, double(p.max_repetitions)));
}

// Host-timed phases: a fifth of the window they size, at most 0.1 s (thousands of repetitions
// of a millisecond phase time it to well under the headroom), at least one repetition.
constexpr double kTimedFraction = 0.2, kTimedMaxS = 0.1;

template <typename Fn>
double timed_mean(MeasureContext& ctx, double target_s, Fn repetition) {
  ctx.window_just_ended = ctx.position_saved = false;  // GPU work outside any window
  const double span = std::min(kTimedMaxS, kTimedFraction * target_s);
  const double t0 = ctx.meter.now();
  int n = 0;
  double elapsed = 0;
  do {
    repetition(n++);
    elapsed = ctx.meter.now() - t0;
  } while (elapsed < span && n < ctx.protocol.max_repetitions);
  return elapsed / n;
}

// A decode window asked for by its length (decode_window_s) is sized from the one-repetition
// probe with the headroom and not probed at its full length: a 60 s check would double the
// cost of the one steady-state window it is for, and so long a probe estimates k to well under
// the headroom. The run's decode phase records the length it really had.
void apply_decode_window_s(Repetitions& reps, double one_s, const ProtocolOptions& p) {
  if (p.decode_window_s <= 0) return;
  const int k = repetitions_for_duration(one_s, p.decode_window_s, p);
  if (k <= reps.decode) return;
  reps.decode = k;
  reps.decode_target_s = p.decode_window_s;
  reps.decode_probe_s = one_s;
}

// Aligned windows, known counter period: each window lasts N periods. Prefill is timed on the
// host clock and its window is not metered before the runs (it is not gated; the runs record
// the length it had). Decode is metered: one repetition first, which is the window when it
// lasts the target (a 7B model's decode at batch 1 does) and otherwise gives k from its length.
void size_by_duration(MeasureContext& ctx, Workload& w, Repetitions& reps, LastDecodeProbe& last) {
  const auto& p = ctx.protocol;
  const double pre_s = window_target_s(prefill_min_counter_updates(p), ctx.counter_period_s, p);
  const double dec_s = window_target_s(p.min_counter_updates, ctx.counter_period_s, p);
  reps.timed = true;
  reps.prefill_rep_s = timed_mean(ctx, pre_s, [&](int) { w.prefill(); });
  reps.prefill = repetitions_for_duration(reps.prefill_rep_s, pre_s, p);
  reps.prefill_target_s = pre_s;
  reps.decode_target_s = dec_s;
  reps.prefill_probe_s = reps.prefill * reps.prefill_rep_s;
  reps.decode = grow_until_long(1, dec_s, p, reps.decode_probe_s, [&](int k) {
    const Probe probe = probe_decode(ctx, w, reps.direct_decode, k, last);
    if (k == 1) reps.decode_rep_s = probe.seconds;
    return probe;
  });
  apply_decode_window_s(reps, reps.decode_rep_s, p);
}

// Otherwise: metered one-repetition probes give each phase's length and the counter's rate, and
// each window grows until it sees its updates.
void size_by_updates(MeasureContext& ctx, Workload& w, Repetitions& reps, LastDecodeProbe& last) {
  const auto& p = ctx.protocol;
  const Probe pre = probe_prefill(ctx, w, 1);
  const Probe dec = probe_decode(ctx, w, reps.direct_decode, 1, last);
  if (!pre.readable || !dec.readable) return;  // the runs will record the fault
  if (p.min_counter_updates > 0) {
    // The prefill window needs half the decode window's updates: its figure is not gated.
    ProtocolOptions pre_p = p;
    pre_p.min_counter_updates = prefill_min_counter_updates(p);
    const double rate = dec.seconds > 0 ? dec.updates / dec.seconds : 0;
    reps.prefill = repetitions_for(pre.seconds, rate, pre_p);
    reps.decode = repetitions_for(dec.seconds, rate, p);
    reps.prefill =
        grow_until_seen(reps.prefill, pre_p, [&](int k) { return probe_prefill(ctx, w, k); });
    reps.decode = grow_until_seen(
        reps.decode, p, [&](int k) { return probe_decode(ctx, w, reps.direct_decode, k, last); });
  }
  apply_decode_window_s(reps, dec.seconds, p);
}

}  // namespace

bool window_readable(const meter::WindowResult& r) {
  for (const auto& d : r.devices)
    if (!std::isfinite(d.gross_j)) return false;
  return true;
}

double decode_j_per_token(const meter::WindowResult& r, double tokens) {
  const double net = r.net_j();
  return (std::isfinite(net) ? net : r.gross_j()) / tokens;
}

int repetitions_for(double phase_s, double updates_per_s, const ProtocolOptions& p) {
  if (p.min_counter_updates <= 0) return 1;
  const double shortest = std::max(phase_s, 1e-9);
  // The sampler sees at most one counter update per sample interval, so a window with
  // min_counter_updates updates lasts at least that many intervals: a lower bound on k that
  // holds even when the probe saw no update at all.
  const double min_window = p.min_counter_updates * p.sample_interval_s;
  double want = min_window > 0 ? std::ceil(min_window / shortest) : 1.0;
  if (updates_per_s > 0 && updates_per_s * shortest < p.min_counter_updates)
    want = std::max(want, std::ceil(p.min_counter_updates / (updates_per_s * shortest)));
  return int(std::clamp(want, 1.0, double(p.max_repetitions)));
}

Repetitions size_repetitions(MeasureContext& ctx, Workload& w) {
  const auto& p = ctx.protocol;
  Repetitions reps;
  reps.direct_decode = w.engine.can_restore_position();
  ctx.window_just_ended = ctx.position_saved = false;
  // A first, unmetered pass: graph capture and first-touch costs stay out of every timing. A
  // two-token decode (one decode step: the first token comes from the prefill's logits) runs
  // every kernel a decode runs (a captured step replays them); the rest would only repeat them.
  w.prefill();
  w.engine.decode_greedy(std::min(w.gen_len, kWarmDecodeSteps));
  w.engine.synchronize();
  if (!ctx.energy || (p.min_counter_updates <= 0 && p.decode_window_s <= 0)) return reps;
  LastDecodeProbe last;
  if (p.windows == WindowMode::Aligned && ctx.counter_period_s > 0 && p.min_counter_updates > 0)
    size_by_duration(ctx, w, reps, last);
  else
    size_by_updates(ctx, w, reps, last);
  if (reps.direct_decode && last.k == reps.decode) {
    reps.sizing_window_value = last.value;
    reps.sizing_window_start_s = last.start_s;
  }
  return reps;
}

}  // namespace eco::bench
