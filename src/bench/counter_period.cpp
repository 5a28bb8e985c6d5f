#include "bench/counter_period.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ecocompute/meter.h"
#include "meter/counter_watch.h"

namespace eco::bench {

namespace {

// A short look first: enough for counters that update every few milliseconds; a counter that
// changed fewer than kEnoughChanges times in it gets a second, longer one (NVML's updates
// every 100 ms: 10 changes).
constexpr double kGlanceSeconds = 0.1, kWatchSeconds = 1.0;
constexpr int kEnoughChanges = 6;

std::vector<meter::CounterWatch> watch(meter::Meter& meter, double& seconds) {
  seconds = kGlanceSeconds;
  auto watches = meter.watch_counters(kGlanceSeconds, 0);
  for (const auto& w : watches)
    if (int(w.changes.size()) < kEnoughChanges) {
      seconds += kWatchSeconds;
      return meter.watch_counters(kWatchSeconds, 0);
    }
  return watches;
}

// The counter's tail rule places the last change on the period's grid to within 3 % of a period
// (src/meter/aligned.cpp); a counter whose changes stray further from the fitted grid (the
// H200's: about 1 %) is irregular.
constexpr double kMaxJitterFraction = 0.03;

struct PeriodFit {
  double period_s = 0;     // the longest fitted period; 0 when none fitted
  bool irregular = false;  // a device's changes stray more than kMaxJitterFraction
  double watched_s = 0;
  nlohmann::json devices = nlohmann::json::array();
};

PeriodFit fit_period(meter::Meter& meter) {
  PeriodFit fit;
  for (const auto& w : watch(meter, fit.watched_s)) {
    const meter::CounterStats st = meter::counter_stats(w.changes);
    const bool fitted = std::isfinite(st.period_s) && st.period_s > 0;
    if (fitted) fit.period_s = std::max(fit.period_s, st.period_s);
    fit.irregular =
        fit.irregular || (fitted && !(st.jitter_sd_s <= kMaxJitterFraction * st.period_s));
    fit.devices.push_back(
        {{"device", w.device},
         {"changes", st.changes},
         {"period_s", fitted ? nlohmann::json(st.period_s) : nlohmann::json()},
         {"jitter_sd_s",
          std::isfinite(st.jitter_sd_s) ? nlohmann::json(st.jitter_sd_s) : nlohmann::json()},
         {"read_cost_s", w.read_cost_s}});
  }
  return fit;
}

}  // namespace

double measure_counter_period(meter::Meter& meter, store::Store& store, ProgressSink& progress,
                              const ProtocolOptions& protocol, int64_t session_id, bool energy) {
  if (!energy || protocol.windows != WindowMode::Aligned || protocol.min_counter_updates <= 0)
    return 0;
  const PeriodFit fit = fit_period(meter);
  store::ProtocolEvent ev;
  ev.step = "counter-period";
  ev.seconds = fit.watched_s;
  ev.outcome = fit.period_s > 0 ? "measured" : "unknown";
  ev.details_json = nlohmann::json{
      {"period_s", fit.period_s > 0 ? nlohmann::json(fit.period_s) : nlohmann::json()},
      {"irregular", fit.irregular},
      {"devices",
       fit.devices}}.dump();
  store.add_event(session_id, ev);
  progress.step("counter period", fit.period_s > 0
                                      ? fmt::format("{:.1f} ms", 1000 * fit.period_s)
                                      : std::string("unknown: windows sized by the changes seen"));
  return fit.period_s;
}

double watch_counter_period(meter::Meter& meter) {
  const PeriodFit fit = fit_period(meter);
  return fit.irregular ? 0 : fit.period_s;
}

double reuse_counter_period(double period_s, store::Store& store, ProgressSink& progress,
                            int64_t session_id) {
  store::ProtocolEvent ev;
  ev.step = "counter-period";
  ev.seconds = 0;
  ev.outcome = "reused";
  ev.details_json =
      nlohmann::json{{"period_s", period_s}, {"from", "an earlier sweep of this process"}}.dump();
  store.add_event(session_id, ev);
  progress.step("counter period",
                fmt::format("{:.1f} ms (measured earlier in this process)", 1000 * period_s));
  return period_s;
}

double window_target_s(int updates, double counter_period_s, const ProtocolOptions& p) {
  return updates * std::max(counter_period_s, p.sample_interval_s);
}

}  // namespace eco::bench
