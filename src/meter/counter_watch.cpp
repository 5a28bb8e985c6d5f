#include "meter/counter_watch.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

namespace eco::meter {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

std::vector<CounterWatch> watch_counters(Sampler& sampler, int devices, double seconds,
                                         double poll_s) {
  std::vector<CounterWatch> out(static_cast<size_t>(devices));
  std::vector<Sampler::CounterRead> last(out.size());
  for (int d = 0; d < devices; ++d) {
    out[static_cast<size_t>(d)].device = d;
    last[static_cast<size_t>(d)] = sampler.read_counter(d);
  }
  const double stop = steady_seconds() + seconds;
  while (steady_seconds() < stop) {
    if (poll_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
    for (size_t d = 0; d < out.size(); ++d) {
      const Sampler::CounterRead r = sampler.read_counter(static_cast<int>(d));
      CounterWatch& w = out[d];
      ++w.reads;
      w.read_cost_s += r.t_after - r.t_call;
      const double before = last[d].sample.energy_mj, now = r.sample.energy_mj;
      if (!std::isfinite(now)) continue;
      if (std::isfinite(before) && now != before) {
        w.changes.push_back({0.5 * (last[d].t_before + r.t_after),
                             0.5 * (r.t_after - last[d].t_before), now, now - before});
      }
      last[d] = r;
    }
  }
  for (CounterWatch& w : out) w.read_cost_s = w.reads > 0 ? w.read_cost_s / w.reads : kNaN;
  return out;
}

CounterStats counter_stats(const std::vector<CounterChange>& changes) {
  CounterStats s;
  s.changes = static_cast<int>(changes.size());
  if (changes.size() < 3) {
    s.period_s = s.gap_mean_s = s.gap_sd_s = s.gap_min_s = s.gap_max_s = s.jitter_sd_s =
        s.jitter_max_s = s.phase_s = s.bracket_mean_s = s.power_mean_w = kNaN;
    return s;
  }
  std::vector<double> gaps;
  double power = 0, bracket = 0;
  for (size_t i = 1; i < changes.size(); ++i) {
    const double gap = changes[i].t - changes[i - 1].t;
    gaps.push_back(gap);
    power += changes[i].increment_mj / 1000.0 / gap;
  }
  for (const CounterChange& c : changes) bracket += c.half_width_s;
  s.power_mean_w = power / static_cast<double>(gaps.size());
  s.bracket_mean_s = bracket / static_cast<double>(changes.size());
  double sum = 0, sq = 0;
  for (double g : gaps) sum += g;
  s.gap_mean_s = sum / static_cast<double>(gaps.size());
  for (double g : gaps) sq += (g - s.gap_mean_s) * (g - s.gap_mean_s);
  s.gap_sd_s = std::sqrt(sq / static_cast<double>(gaps.size()));
  s.gap_min_s = *std::min_element(gaps.begin(), gaps.end());
  s.gap_max_s = *std::max_element(gaps.begin(), gaps.end());

  // Update index of each change from the median gap, so a missed update does not bend the fit.
  std::vector<double> sorted = gaps;
  std::sort(sorted.begin(), sorted.end());
  const double typical = sorted[sorted.size() / 2];
  std::vector<double> k(changes.size(), 0.0);
  for (size_t i = 1; i < changes.size(); ++i) {
    const double steps = std::max(1.0, std::round(gaps[i - 1] / typical));
    if (steps > 1) ++s.skipped;
    k[i] = k[i - 1] + steps;
  }
  // Least squares t = a + period * k.
  const double n = static_cast<double>(changes.size());
  double mk = 0, mt = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    mk += k[i] / n;
    mt += (changes[i].t - changes[0].t) / n;
  }
  double skt = 0, skk = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    skt += (k[i] - mk) * (changes[i].t - changes[0].t - mt);
    skk += (k[i] - mk) * (k[i] - mk);
  }
  s.period_s = skt / skk;
  const double a = changes[0].t + mt - s.period_s * mk;
  s.phase_s = std::fmod(a, s.period_s);
  double rss = 0;
  s.jitter_max_s = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    const double r = changes[i].t - (a + s.period_s * k[i]);
    rss += r * r;
    s.jitter_max_s = std::max(s.jitter_max_s, std::fabs(r));
  }
  s.jitter_sd_s = std::sqrt(rss / n);
  return s;
}

}  // namespace eco::meter
