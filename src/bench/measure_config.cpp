// The protocol's steps for one configuration: stabilisation, warm-ups, adaptive measured runs
// and the gates, after the windows are sized (bench/sizing.cpp; docs/METHODOLOGY.md,
// "Protocol").
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "bench/measure.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "engine/finite_logits.h"

namespace eco::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json nan_to_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json();
}

nlohmann::json trend_json(const Trend& t) {
  return {{"n", t.n},
          {"slope_per_run", nan_to_null(t.slope)},
          {"t", nan_to_null(t.t)},
          {"t_critical", nan_to_null(t.t_critical)},
          {"change", nan_to_null(t.change)},
          {"significant", t.significant}};
}

// Least-squares slope of the first device's temperature over the trailing `span_s` of the
// meter's timeline, in C per minute; NaN without readings or with under half the span covered.
double temperature_slope(meter::Meter& m, double span_s) {
  const double now = m.now();
  double n = 0, st = 0, sy = 0, stt = 0, sty = 0, first = now;
  for (const auto& s : m.timeline(now - span_s, now)) {
    if (s.device != 0 || !std::isfinite(s.temperature_c)) continue;
    const double t = s.t - now;
    first = std::min(first, s.t);
    n += 1, st += t, sy += s.temperature_c, stt += t * t, sty += t * s.temperature_c;
  }
  const double denom = n * stt - st * st;
  if (n < 3 || now - first < span_s / 2 || denom <= 0) return kNaN;
  return 60.0 * (n * sty - st * sy) / denom;
}

struct StabilisationWindow {
  double value = kNaN;  // decode J/token, or decode tok/s without energy
  bool has_temperature = false;
  std::string fault;
};

// One window of the stabilisation step. With direct decode it is the measured decode window
// alone (k decodes from the saved post-prefill position, no prefill window and nothing
// stored): the observable is decode J/token, so that is the work that must be steady, and it
// costs half a run. Without direct decode it is a whole measured run.
StabilisationWindow stabilisation_window(MeasureContext& ctx, Workload& w,
                                         const Repetitions& reps) {
  StabilisationWindow out;
  if (!reps.direct_decode) {
    const auto r = execute_run(ctx, w, reps, false, &out.fault);
    out.value = ctx.energy ? r.decode_j_per_token : r.decode_tok_s;
    out.has_temperature = std::isfinite(r.temp_end_c);
    return out;
  }
  to_post_prefill_position(ctx, w);
  const auto r = decode_window(ctx, w, reps.decode, "stabilisation");
  engine::check_finite_logits(w.engine, fmt::format("configuration {}", ctx.config_id));
  const double tokens = double(reps.decode) * double(w.decode_tokens());
  if (!ctx.energy) {
    out.value = r.duration_s > 0 ? tokens / r.duration_s : kNaN;
    return out;
  }
  if (!window_readable(r)) {
    out.fault = "stabilisation window: energy readings failed";
    return out;
  }
  out.value = decode_j_per_token(r, tokens);
  for (const auto& d : r.devices) out.has_temperature |= std::isfinite(d.temp_end_c);
  return out;
}

}  // namespace

nlohmann::json set_aside_json(const GateRound& g) {
  nlohmann::json drops = nlohmann::json::array(), unsettled = nlohmann::json::array();
  for (const auto& d : g.trend_drops) {
    drops.push_back(
        {{"after_runs", d.after_runs}, {"runs", d.runs}, {"trend", trend_json(d.trend)}});
    for (size_t i : d.runs) unsettled.push_back(i);
  }
  return {{"measured", g.measured},
          {"unsettled", unsettled},
          {"trend_drops", drops},
          {"trend", trend_json(g.trend)},
          {"outlier_rejected",
           g.outlier_rejected ? nlohmann::json(*g.outlier_rejected) : nlohmann::json()},
          {"outliers_found", g.outliers_found},
          {"outlier_remeasured", g.outlier_remeasured}};
}

std::string_view to_string(Stabilisation s) {
  switch (s) {
    case Stabilisation::Disabled:
      return "disabled";
    case Stabilisation::Stable:
      return "stable";
    case Stabilisation::CapReached:
      return "cap-reached";
    case Stabilisation::Fault:
      return "fault";
  }
  return "?";
}

Stabilisation stabilise(MeasureContext& ctx, Workload& w, const Repetitions& reps) {
  const auto& p = ctx.protocol;
  store::ProtocolEvent ev;
  ev.config_id = ctx.config_id;
  ev.step = "stabilisation";
  if (p.stabilise_max_s <= 0) {
    ev.outcome = to_string(Stabilisation::Disabled);
    ctx.store.add_event(ctx.session_id, ev);
    return Stabilisation::Disabled;
  }
  // The observable: decode J/token with energy, decode tok/s without.
  const char* observable = ctx.energy ? "decode_j_per_token" : "decode_tok_s";
  std::vector<double> values, slopes;
  std::string fault;
  Stabilisation outcome = Stabilisation::CapReached;
  // The decode sizing window ran this work just before, at the same k: its value comes first,
  // and the step's seconds (and its cap) count from that window's start.
  const bool sizing_window = std::isfinite(reps.sizing_window_value);
  const double start = sizing_window ? reps.sizing_window_start_s : ctx.meter.now();
  if (sizing_window) {
    values.push_back(reps.sizing_window_value);
    slopes.push_back(temperature_slope(ctx.meter, p.stabilise_slope_span_s));
  }
  while (true) {
    const StabilisationWindow s = stabilisation_window(ctx, w, reps);
    if (!s.fault.empty()) {
      fault = s.fault;
      outcome = Stabilisation::Fault;
      break;
    }
    values.push_back(s.value);
    slopes.push_back(temperature_slope(ctx.meter, p.stabilise_slope_span_s));
    const size_t n = values.size();
    const bool agree = n >= 2 && std::isfinite(values[n - 1]) && std::isfinite(values[n - 2]) &&
                       std::fabs(values[n - 1] - values[n - 2]) <=
                           p.stabilise_tolerance * std::fabs(values[n - 2]);
    // Without a temperature reading the energy criterion decides alone (recorded as null).
    const bool has_temp = ctx.energy && s.has_temperature;
    const bool cool = !has_temp || slopes.back() <= p.stabilise_max_slope_c_per_min;
    if (agree && cool) {
      outcome = Stabilisation::Stable;
      break;
    }
    if (ctx.meter.now() - start >= p.stabilise_max_s) break;
  }
  ev.outcome = to_string(outcome);
  ev.seconds = ctx.meter.now() - start;
  auto finite_or_null = [](const std::vector<double>& xs) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : xs) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
    return a;
  };
  ev.details_json = nlohmann::json{
      {"observable", observable},
      {"window", reps.direct_decode ? "decode" : "run"},
      {"values", finite_or_null(values)},
      {"first_value", sizing_window ? "decode sizing window" : "stabilisation window"},
      {"temp_slope_c_per_min", finite_or_null(slopes)},
      {"tolerance", p.stabilise_tolerance},
      {"max_slope_c_per_min", p.stabilise_max_slope_c_per_min},
      {"fault", fault}}.dump();
  ctx.store.add_event(ctx.session_id, ev);
  ctx.progress.step("stabilisation", fmt::format("{} after {:.1f} s ({} windows)", ev.outcome,
                                                 ev.seconds, values.size()));
  return outcome;
}

namespace {

void run_warmups(MeasureContext& ctx, Workload& w, const Repetitions& reps, int round) {
  const auto& p = ctx.protocol;
  for (int i = 0; i < p.warmup; ++i) {
    ctx.progress.run_started({round, i, true}, p.warmup);
    store::RunRecord r = execute_run(ctx, w, reps, false);
    r.round = round;
    r.index = i;
    r.warmup = true;
    ctx.store.insert_run(r);
    ctx.progress.run_finished(r);
  }
}

std::vector<double> column(const std::vector<store::RunRecord>& runs,
                           double store::RunRecord::*field) {
  std::vector<double> xs;
  for (const auto& r : runs) xs.push_back(r.*field);
  return xs;
}

double cv_of(const std::vector<double>& values) {
  std::vector<double> xs;
  for (double x : values)
    if (std::isfinite(x)) xs.push_back(x);
  if (xs.size() < 2) return kNaN;
  return analysis::coefficient_of_variation(xs);
}

// Measured runs as the round's plan asks (bench/round.h: at least `runs`, until both CIs are
// tight enough, at most `max_runs`, runs set aside by the trend and outlier rules); each run is
// stored as it completes and the set-aside ones are flagged once the round ends. A run whose
// energy readings failed ends the round. Returns the runs that count.
std::vector<store::RunRecord> measure_round(MeasureContext& ctx, Workload& w,
                                            const Repetitions& reps, int round, GateRound& g) {
  const auto& p = ctx.protocol;
  RoundPlan plan(p, ctx.energy);
  std::vector<store::RunRecord> measured;
  for (bool more = true; more;) {
    ctx.progress.run_started({round, int(measured.size()), false}, p.runs);
    std::string fault;
    store::RunRecord r = execute_run(ctx, w, reps, p.store_timeline, &fault);
    r.round = round;
    r.index = int(measured.size());
    if (reps.prefill == p.max_repetitions && reps.prefill > 1) r.flags += ",max-repetitions";
    r.id = ctx.store.insert_run(r);
    ctx.progress.run_finished(r);
    measured.push_back(std::move(r));
    if (!fault.empty()) {
      g.fault = fault;
      break;
    }
    more = plan.add(measured.back().decode_j_per_token, measured.back().decode_tok_s);
  }
  g.measured = int(measured.size());
  g.trend_drops = plan.trend_drops();
  g.trend = plan.final_trend();
  g.outlier_rejected = plan.outlier_rejected();
  g.outliers_found = plan.outliers_found();
  g.outlier_remeasured = plan.outlier_remeasured();
  std::vector<store::RunRecord> counted;
  for (size_t i = 0; i < measured.size(); ++i) {
    auto& r = measured[i];
    const RunUse use = i < plan.uses().size() ? plan.uses()[i] : RunUse::Kept;
    if (use == RunUse::Kept) {
      counted.push_back(std::move(r));
      continue;
    }
    r.flags +=
        fmt::format("{}{}", r.flags.empty() ? "" : ",",
                    use == RunUse::Unsettled ? store::kRunUnsettled : store::kRunOutlierRejected);
    ctx.store.set_run_flags(r.id, r.flags);
  }
  return counted;
}

void evaluate_gate(MeasureContext& ctx, const std::vector<store::RunRecord>& runs, GateRound& g) {
  const auto& p = ctx.protocol;
  const auto tok_s = column(runs, &store::RunRecord::decode_tok_s);
  const auto j_tok = column(runs, &store::RunRecord::decode_j_per_token);
  g.n = int(runs.size());
  g.cv_decode_tok_s = cv_of(tok_s);
  g.cv_decode_j_per_token = ctx.energy ? cv_of(j_tok) : kNaN;
  g.ci_decode_tok_s = relative_ci_half_width(tok_s);
  g.ci_decode_j_per_token = ctx.energy ? relative_ci_half_width(j_tok) : kNaN;
  g.throughput_ok = std::isfinite(g.cv_decode_tok_s) && g.cv_decode_tok_s < p.max_cv_decode_tok_s;
  g.energy_ok = !ctx.energy || (std::isfinite(g.cv_decode_j_per_token) &&
                                g.cv_decode_j_per_token < p.max_cv_decode_j_per_token);
}

// One measured run (runs = max_runs = 1, a single steady-state window): no CV to gate on.
bool single_run(const ProtocolOptions& p) {
  return p.max_runs == 1;
}

void record_gate(MeasureContext& ctx, const GateRound& g, const Repetitions& reps) {
  const auto& p = ctx.protocol;
  store::ProtocolEvent ev;
  ev.config_id = ctx.config_id;
  ev.step = "gate";
  ev.outcome = single_run(p) && g.fault.empty() ? "not-evaluated"
               : g.passed()                     ? "pass"
                                                : (g.round < p.max_reruns ? "fail-rerun" : "fail");
  ev.details_json = nlohmann::json{
      {"round", g.round},
      {"n", g.n},
      {"k_prefill", reps.prefill},
      {"k_decode", reps.decode},
      {"cv_decode_tok_s", nan_to_null(g.cv_decode_tok_s)},
      {"cv_decode_j_per_token", nan_to_null(g.cv_decode_j_per_token)},
      {"ci_decode_tok_s", nan_to_null(g.ci_decode_tok_s)},
      {"ci_decode_j_per_token", nan_to_null(g.ci_decode_j_per_token)},
      {"max_cv_decode_tok_s", p.max_cv_decode_tok_s},
      {"max_cv_decode_j_per_token", p.max_cv_decode_j_per_token},
      {"set_aside", set_aside_json(g)},
      {"fault",
       g.fault}}.dump();
  ctx.store.add_event(ctx.session_id, ev);
  std::string detail = fmt::format(
      "n {}, CV decode tok/s {:.2f} % (max {:.2f} %), CV decode J/token {} (max {:.2f} %)", g.n,
      100 * g.cv_decode_tok_s, 100 * p.max_cv_decode_tok_s,
      ctx.energy ? fmt::format("{:.2f} %", 100 * g.cv_decode_j_per_token)
                 : std::string("not measured"),
      100 * p.max_cv_decode_j_per_token);
  if (single_run(p)) detail = "one measured run (runs = max_runs = 1): no CV, gates not evaluated";
  size_t unsettled = 0;
  for (const auto& d : g.trend_drops) unsettled += d.runs.size();
  if (unsettled > 0)
    detail += fmt::format("; {} leading run(s) set aside as not settled (trend)", unsettled);
  if (g.outlier_rejected)
    detail += fmt::format("; run {} set aside as an outlier", *g.outlier_rejected + 1);
  if (!g.fault.empty()) detail += "; energy readings failed: " + g.fault;
  ctx.progress.step(fmt::format("gate round {}", g.round), ev.outcome + ": " + detail);
}

}  // namespace

ConfigOutcome measure_configuration(MeasureContext& ctx, Workload& w) {
  const auto& p = ctx.protocol;
  ConfigOutcome out;
  out.reps = size_repetitions(ctx, w);
  const Stabilisation stabilised = stabilise(ctx, w, out.reps);
  // Stabilisation's windows ran the configuration's own work just before: they are round 0's
  // warm-up. Re-run rounds, and a round 0 without stabilisation, run their warm-ups.
  const bool warmed =
      stabilised == Stabilisation::Stable || stabilised == Stabilisation::CapReached;
  for (int round = 0; round <= p.max_reruns; ++round) {
    if (round > 0 || !warmed) run_warmups(ctx, w, out.reps, round);
    GateRound g;
    g.round = round;
    auto measured = measure_round(ctx, w, out.reps, round, g);
    evaluate_gate(ctx, measured, g);
    record_gate(ctx, g, out.reps);
    out.gate_rounds.push_back(g);
    out.rounds = round + 1;
    out.final_runs = std::move(measured);
    if (out.fault.empty()) out.fault = g.fault;
    if (single_run(p) && g.fault.empty()) {
      out.gate = store::GateOutcome::NotEvaluated;
      return out;
    }
    if (g.passed()) {
      out.gate = round == 0 ? store::GateOutcome::Passed : store::GateOutcome::PassedAfterRerun;
      return out;
    }
  }
  out.gate = store::GateOutcome::Failed;
  return out;
}

}  // namespace eco::bench
