#include "meter/aligned.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

namespace eco::meter {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kCounterResolutionJ = 0.001;  // NVML counts whole millijoules

// Integral over [from, to] of the power through the finite readings (linear between them,
// constant beyond the first and last). NaN when no reading has a power value.
double power_integral(const std::vector<Sample>& readings, double from, double to) {
  std::vector<const Sample*> p;
  for (const Sample& s : readings) {
    if (std::isfinite(s.watts)) p.push_back(&s);
  }
  if (p.empty()) return kNaN;
  if (to <= from) return 0;
  auto power = [&](double t) {
    if (t <= p.front()->t) return p.front()->watts;
    if (t >= p.back()->t) return p.back()->watts;
    auto hi =
        std::lower_bound(p.begin(), p.end(), t, [](const Sample* s, double x) { return s->t < x; });
    const Sample* b = *hi;
    const Sample* a = *(hi - 1);
    return b->t > a->t ? a->watts + (b->watts - a->watts) * (t - a->t) / (b->t - a->t) : b->watts;
  };
  // Exact for the piecewise-linear curve: trapezoids between the knots inside (from, to).
  double joules = 0, a = from;
  for (const Sample* s : p) {
    if (s->t <= a || s->t >= to) continue;
    joules += 0.5 * (power(a) + power(s->t)) * (s->t - a);
    a = s->t;
  }
  return joules + 0.5 * (power(a) + power(to)) * (to - a);
}

// The lower median: with two reads, one of them stalled, the other.
double median(std::vector<double> xs) {
  const auto mid = xs.begin() + static_cast<std::ptrdiff_t>((xs.size() - 1) / 2);
  std::nth_element(xs.begin(), mid, xs.end());
  return *mid;
}

double highest_power(const std::vector<Sample>& readings, double floor_w) {
  double w = floor_w;
  for (const Sample& s : readings) {
    if (std::isfinite(s.watts) && !(s.watts <= w)) w = s.watts;
  }
  return w;
}

// How far a counter change may lie from its period's grid, as a fraction of the period: the
// H200's change times lie within 1.1-1.3 ms (sd; 2.2 ms at most) of a fitted 100 ms grid, and a
// period fitted over one second is good to about 0.2 ms (docs/BENCHMARKS.md).
constexpr double kChangeJitterFraction = 0.03;

struct CounterTail {
  double joules = 0, uncertainty_j = 0;
  std::string why_not;  // non-empty: the counter's increment cannot give the tail
};

// Changes of the counter after the end sample read it, up to the end edge: the value
// transitions from the end sample through the end wait's readings. One, unless the wait passed
// over a change whose bracket was too wide, or the counter changed between the work's end and
// the end sample's counter read.
int changes_after_end(const AlignedInput& in) {
  double last = in.end.energy_mj;
  int n = 0;
  for (const Sample& s : in.end_edge.readings) {
    if (!std::isfinite(s.energy_mj) || s.t < in.end.t || s.energy_mj == last) continue;
    ++n;
    last = s.energy_mj;
  }
  return n;
}

// A timeline sample inside the window that contradicts "the counter's last change before the end
// sample came at last_change": it already showed that change's value well before then, or still
// an older one well after. The counter is read last in a sample, up to a read's time after s.t.
bool period_contradicted(const AlignedInput& in, double last_change, double margin) {
  const double last_value = in.end.energy_mj;
  for (const Sample& s : in.inside) {
    if (!std::isfinite(s.energy_mj)) continue;
    if (s.t + margin < last_change && s.energy_mj == last_value) return true;
    if (s.t > last_change + margin && s.energy_mj != last_value) return true;
  }
  return false;
}

// The window's energy from the counter alone (aligned.h): up to the last change c before the end
// sample's counter read (whose value that sample shows), then the work from c to its end at the
// work's own rate up to c. The tail is what the span holds beyond that. head_j: the energy from
// the start edge to the work's start.
CounterTail counter_tail(const AlignedInput& in, double span_j, double head_j) {
  CounterTail out;
  const CounterEdge& a = in.start_edge;
  const CounterEdge& b = in.end_edge;
  const double period = in.counter_period_s;
  const int changes = changes_after_end(in);
  const double last_change = b.t - changes * period;
  const double slack = b.half_width_s + kChangeJitterFraction * period * std::max(changes, 1);
  if (!std::isfinite(in.end.energy_mj) || changes < 1) {
    out.why_not = "the end sample or the end wait has no counter value";
  } else if (in.end.t - last_change > period + slack || last_change - in.end.t > slack ||
             period_contradicted(in, last_change, slack + 0.1 * period)) {
    out.why_not = "the counter's changes do not follow the given period";
  } else if (!(last_change > in.start.t + slack)) {
    out.why_not = "the work is shorter than one counter period";
  }
  if (!out.why_not.empty()) return out;
  const double before_j = (in.end.energy_mj - a.value_mj) / 1000.0 - head_j;
  const double rate_w = before_j / (last_change - in.start.t);
  const double work_part_j = rate_w * (in.end.t - last_change);
  out.joules = span_j - head_j - (before_j + work_part_j);
  // Where the last change lies (its bracket and jitter), and the work's last part drawing the
  // work's mean power to within the readings' tolerance.
  out.uncertainty_j = std::fabs(rate_w) * slack + in.power_tolerance * std::fabs(work_part_j);
  return out;
}

}  // namespace

std::vector<CounterEdge> wait_for_counter_changes(Sampler& sampler, const std::vector<bool>& want,
                                                  double timeout_s, double poll_s, double slack_s) {
  const size_t n = want.size();
  std::vector<CounterEdge> edges(n);
  std::vector<Sampler::CounterRead> last(n);  // the latest read that still showed the old value
  std::vector<bool> pending(n, false);
  std::vector<std::vector<double>> costs(n);  // each read's duration, per device
  for (size_t d = 0; d < n; ++d) {
    if (!want[d]) continue;
    last[d] = sampler.read_counter(static_cast<int>(d));
    costs[d].push_back(last[d].t_after - last[d].t_call);
    edges[d].readings.push_back(last[d].sample);
    pending[d] = std::isfinite(last[d].sample.energy_mj);
  }
  const double deadline = steady_seconds() + timeout_s;
  auto waiting = [&] { return std::find(pending.begin(), pending.end(), true) != pending.end(); };
  while (waiting() && steady_seconds() < deadline) {
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
    for (size_t d = 0; d < n; ++d) {
      if (!pending[d]) continue;
      const Sampler::CounterRead r = sampler.read_counter(static_cast<int>(d));
      CounterEdge& e = edges[d];
      e.readings.push_back(r.sample);
      costs[d].push_back(r.t_after - r.t_call);
      if (!std::isfinite(r.sample.energy_mj)) continue;  // a failed read widens the bracket
      if (r.sample.energy_mj == last[d].sample.energy_mj) {
        last[d] = r;
        continue;
      }
      // The counter was read somewhere inside each call: the change lies between the start of
      // the last call that showed the old value and the end of the first that showed the new.
      e.seen = true;
      e.before_mj = last[d].sample.energy_mj;
      e.value_mj = r.sample.energy_mj;
      e.t = 0.5 * (last[d].t_before + r.t_after);
      e.half_width_s = 0.5 * (r.t_after - last[d].t_before);
      last[d] = r;
      pending[d] = 2 * e.half_width_s > poll_s + 2 * median(costs[d]) + 2 * slack_s;
    }
  }
  return edges;
}

AlignedEnergy aligned_energy(const AlignedInput& in) {
  AlignedEnergy out;
  const CounterEdge& a = in.start_edge;
  const CounterEdge& b = in.end_edge;
  if (!a.seen || !b.seen) {
    out.problem = "the energy counter did not change at both ends of the window";
    return out;
  }
  if (b.value_mj < a.value_mj || b.t <= a.t) {
    out.problem = "the energy counter went down between the window's ends (counter reset)";
    return out;
  }
  const double span_j = (b.value_mj - a.value_mj) / 1000.0;
  const double rate_w = span_j / (b.t - a.t);
  out.head_s = std::max(0.0, in.start.t - a.t);
  out.tail_s = std::max(0.0, b.t - in.end.t);

  // Head and tail from the power readings around them; the counter's mean rate when none.
  std::vector<Sample> head = a.readings, tail = {in.end};
  head.push_back(in.start);
  tail.insert(tail.end(), b.readings.begin(), b.readings.end());
  double head_j = power_integral(head, in.start.t - out.head_s, in.start.t);
  if (!std::isfinite(head_j)) head_j = rate_w * out.head_s;
  // Each change time is known to within its bracket, at up to the highest power seen there; the
  // head is only as good as the power readings; each counter value is whole mJ.
  const double head_uncertainty_j = highest_power(head, rate_w) * a.half_width_s +
                                    in.power_tolerance * std::fabs(head_j) +
                                    2 * kCounterResolutionJ;
  if (in.counter_period_s > 0) {
    const CounterTail t = counter_tail(in, span_j, head_j);
    out.tail_note = t.why_not;
    if (t.why_not.empty()) {
      out.tail_from_counter = true;
      out.tail_j = t.joules;
      out.joules = span_j - head_j - t.joules;
      out.uncertainty_j = head_uncertainty_j + t.uncertainty_j;
      return out;
    }
  }
  double tail_j = power_integral(tail, in.end.t, in.end.t + out.tail_s);
  if (!std::isfinite(tail_j)) tail_j = rate_w * out.tail_s;
  out.tail_j = tail_j;
  out.joules = span_j - head_j - tail_j;
  out.uncertainty_j = head_uncertainty_j + highest_power(tail, rate_w) * b.half_width_s +
                      in.power_tolerance * std::fabs(tail_j);
  return out;
}

}  // namespace eco::meter
