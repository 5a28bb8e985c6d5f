#include "bench/idle.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ecocompute/meter.h"

namespace eco::bench {

namespace {

constexpr double kDriftWarning = 0.05;  // beyond this the baseline no longer describes idle

std::string watts_text(const std::vector<double>& watts) {
  std::string w;
  for (double x : watts) w += fmt::format("{}{:.1f} W", w.empty() ? "" : ", ", x);
  return w;
}

nlohmann::json finite_or_null(const std::vector<double>& xs) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : xs) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
  return a;
}

// The protocol's windows: an aligned idle window has no counter quantisation at its ends (a
// plain 5 s one at 80 W can be off by two updates, 16 J of 400 J).
meter::WindowOptions idle_window(const ProtocolOptions& p) {
  meter::WindowOptions o;
  o.aligned = p.windows == WindowMode::Aligned;
  return o;
}

}  // namespace

std::vector<double> idle_drift(const std::vector<double>& baseline,
                               const std::vector<double>& now) {
  std::vector<double> d;
  for (size_t i = 0; i < now.size(); ++i) {
    const double b = i < baseline.size() ? baseline[i] : NAN;
    d.push_back(std::isfinite(b) && b > 0 && std::isfinite(now[i]) ? (now[i] - b) / b : NAN);
  }
  return d;
}

IdleBaseline::IdleBaseline(meter::Meter& meter, store::Store& store, ProgressSink& progress,
                           const ProtocolOptions& protocol, int64_t session_id, bool energy)
    : meter_(meter),
      store_(store),
      progress_(progress),
      protocol_(protocol),
      session_id_(session_id),
      enabled_(energy && protocol.idle_seconds > 0) {}

void IdleBaseline::measure() {
  if (!enabled_) return;
  for (const auto& d : meter_.devices())
    if (std::isfinite(d.memory_used_mib) && d.memory_used_mib > 1024)
      progress_.warning(fmt::format(
          "GPU {} already has {:.0f} MiB in use: another process may be running on it, and the "
          "idle baseline and every energy figure would include its draw",
          d.index, d.memory_used_mib));
  baseline_ = meter_.measure_idle(protocol_.idle_seconds, idle_window(protocol_));
  record_baseline("measured", protocol_.idle_seconds,
                  {"window", std::string(to_string(protocol_.windows))});
  progress_.step("idle baseline", watts_text(baseline_));
}

void IdleBaseline::adopt(const std::vector<double>& watts, const std::string& from) {
  if (!enabled_) return;
  const size_t devices = meter_.devices().size();
  bool usable = devices > 0 && watts.size() == devices;
  for (double w : watts) usable = usable && std::isfinite(w) && w > 0;
  if (!usable) return measure();
  baseline_ = watts;
  meter_.set_idle_power(baseline_);
  record_baseline("reused", 0, {"from", from});
  progress_.step("idle baseline", watts_text(baseline_) + " (metered in " + from + ")");
}

void IdleBaseline::record_baseline(const char* outcome, double seconds,
                                   const std::pair<const char*, std::string>& detail) {
  last_ = meter_.now();
  store::ProtocolEvent ev;
  ev.step = "idle-baseline";
  ev.seconds = seconds;
  ev.outcome = outcome;
  ev.details_json = nlohmann::json{
      {"idle_power_w", finite_or_null(baseline_)},
      {detail.first,
       detail.second}}.dump();
  store_.add_event(session_id_, ev);
}

void IdleBaseline::maybe_recheck() {
  if (!enabled_ || baseline_.empty() || protocol_.idle_recheck_s <= 0) return;
  if (meter_.now() - last_ >= protocol_.idle_recheck_s) recheck("periodic");
}

void IdleBaseline::finish() {
  if (enabled_ && !baseline_.empty()) recheck("end");
}

void IdleBaseline::recheck(const char* when) {
  const std::vector<double> now =
      meter_.measure_idle(protocol_.idle_seconds, idle_window(protocol_));
  meter_.set_idle_power(baseline_);  // every configuration stays net of the same baseline
  last_ = meter_.now();
  const auto drift = idle_drift(baseline_, now);
  bool large = false;
  for (double d : drift) large = large || !std::isfinite(d) || std::fabs(d) > kDriftWarning;
  store::ProtocolEvent ev;
  ev.step = "idle-recheck";
  ev.seconds = protocol_.idle_seconds;
  ev.outcome = large ? "drifted" : "steady";
  ev.details_json = nlohmann::json{{"when", when},
                                   {"window", std::string(to_string(protocol_.windows))},
                                   {"baseline_w", finite_or_null(baseline_)},
                                   {"idle_power_w", finite_or_null(now)},
                                   {"drift", finite_or_null(drift)}}
                        .dump();
  store_.add_event(session_id_, ev);
  std::string d;
  for (double x : drift) d += fmt::format("{}{:+.1f} %", d.empty() ? "" : ", ", 100 * x);
  progress_.step(fmt::format("idle re-check ({})", when), watts_text(now) + ", drift " + d);
  if (large)
    progress_.warning(fmt::format(
        "idle power drifted from {} to {} during the sweep: net energies subtract the first "
        "baseline (both are recorded)",
        watts_text(baseline_), watts_text(now)));
}

}  // namespace eco::bench
