#include "bench/measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "analysis/stats.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "store/export.h"

namespace eco::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void add_flag(std::string& flags, const std::string& f) {
  if (f.empty() || flags.find(f) != std::string::npos) return;
  if (!flags.empty()) flags += ',';
  flags += f;
}

// One pass of the work: prefill, then gen_len tokens (gen_len - 1 decode steps).
void prefill(Workload& w) {
  w.engine.prefill(w.prompts);
  w.engine.synchronize();
}
void decode(Workload& w) {
  w.engine.decode_greedy(w.gen_len);
  w.engine.synchronize();
}

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

store::PhaseRecord phase_from(const meter::WindowResult& r, const std::string& name, int k,
                              int64_t tokens) {
  store::PhaseRecord p;
  p.name = name;
  p.seconds = r.duration_s / k;
  p.tokens = tokens;
  if (!r.gpu_available || r.devices.empty()) return p;
  p.gross_energy_j = r.gross_j() / k;
  p.net_energy_j = r.net_j() / k;
  double integrated = 0, idle = 0, peak = 0;
  int updates = -1;
  for (const auto& d : r.devices) {
    integrated += d.integrated_j;
    idle += d.idle_power_w;
    peak += std::isfinite(d.peak_power_w) ? d.peak_power_w : 0;
    updates = updates < 0 ? d.counter_updates : std::min(updates, d.counter_updates);
    if (d.too_short) add_flag(p.flags, "short-window");
    if (d.disagreement) add_flag(p.flags, "counter-timeline-disagree");
    if (d.fallback_used) add_flag(p.flags, "timeline-energy");
    if (d.counter_reset) add_flag(p.flags, "counter-reset");
    if (d.incomplete) add_flag(p.flags, "incomplete-readings");
  }
  p.timeline_energy_j = integrated / k;
  p.idle_power_w = idle;
  p.mean_power_w = r.duration_s > 0 ? r.gross_j() / r.duration_s : kNaN;
  p.peak_power_w = peak;
  if (updates >= 0) p.counter_updates = updates;
  const double e = std::isfinite(p.net_energy_j) ? p.net_energy_j : p.gross_energy_j;
  p.j_per_token = tokens > 0 ? e / double(tokens) : kNaN;
  return p;
}

// Executes one run with k repetitions per window and turns the windows into a RunRecord.
// k: prefills inside the prefill window; k_total: whole runs inside the total window. Each is
// sized for its own window: a 5 ms prefill needs 200 repetitions to span 10 counter updates, a
// 0.4 s run only 3, and repeating whole runs 200 times would take minutes per run.
store::RunRecord execute_run(MeasureContext& ctx, Workload& w, int k, int k_total,
                             bool keep_timeline) {
  auto& m = ctx.meter;
  meter::WindowResult pre, dec, tot;
  const bool derived = k > 1 || k_total > 1;
  const double t0 = m.now();
  if (!derived) {
    m.begin("total");
    m.begin("prefill");
    prefill(w);
    pre = m.end("prefill");
    m.begin("decode");
    decode(w);
    dec = m.end("decode");
    tot = m.end("total");
  } else {
    // Prefill is repeatable on its own (it restarts the batch); decode needs the KV cache a
    // prefill leaves, so k whole runs form the total window and decode = total - prefill.
    m.begin("prefill");
    for (int i = 0; i < k; ++i) prefill(w);
    pre = m.end("prefill");
    m.begin("total");
    for (int i = 0; i < k_total; ++i) {
      prefill(w);
      decode(w);
    }
    tot = m.end("total");
  }
  const double t1 = m.now();

  store::RunRecord r;
  r.config_id = ctx.config_id;
  r.k = k;
  r.batch = int(w.prompts.size());
  r.prompt_tokens = w.prompt_tokens();
  r.generated_tokens = w.generated_tokens();
  r.decode_tokens = w.decode_tokens();
  r.flags = ctx.run_flags;

  store::PhaseRecord pp = phase_from(pre, "prefill", k, r.prompt_tokens);
  store::PhaseRecord pt = phase_from(tot, "total", k_total, r.generated_tokens);
  if (k > 1) add_flag(pp.flags, fmt::format("k={}", k));
  if (k_total > 1) add_flag(pt.flags, fmt::format("k={}", k_total));
  store::PhaseRecord pd;
  if (!derived) {
    pd = phase_from(dec, "decode", k, r.decode_tokens);
  } else {
    pd.name = "decode";
    pd.tokens = r.decode_tokens;
    pd.seconds = pt.seconds - pp.seconds;
    pd.gross_energy_j = pt.gross_energy_j - pp.gross_energy_j;
    pd.net_energy_j = pt.net_energy_j - pp.net_energy_j;
    pd.timeline_energy_j = pt.timeline_energy_j - pp.timeline_energy_j;
    pd.idle_power_w = pt.idle_power_w;
    pd.mean_power_w = pd.seconds > 0 ? pd.gross_energy_j / pd.seconds : kNaN;
    const double e = std::isfinite(pd.net_energy_j) ? pd.net_energy_j : pd.gross_energy_j;
    pd.j_per_token = r.decode_tokens > 0 ? e / double(r.decode_tokens) : kNaN;
    pd.flags = "derived-total-minus-prefill";
    add_flag(r.flags, "decode-derived");
  }
  for (const auto* p : {&pp, &pd, &pt})
    for (size_t a = 0, b; a < p->flags.size(); a = b + 1) {
      b = p->flags.find(',', a);
      if (b == std::string::npos) b = p->flags.size();
      const std::string f = p->flags.substr(a, b - a);
      if (f != "derived-total-minus-prefill") add_flag(r.flags, p->name + ":" + f);
    }

  r.seconds = pt.seconds;
  r.prefill_seconds = pp.seconds;
  r.decode_seconds = pd.seconds;
  r.prefill_tok_s = pp.seconds > 0 ? double(r.prompt_tokens) / pp.seconds : kNaN;
  r.decode_tok_s = pd.seconds > 0 ? double(r.decode_tokens) / pd.seconds : kNaN;
  if (ctx.energy) {
    r.gross_energy_j = pt.gross_energy_j;
    r.net_energy_j = pt.net_energy_j;
    r.mean_power_w = pt.mean_power_w;
    r.peak_power_w = std::max(pt.peak_power_w, pp.peak_power_w);
    r.idle_power_w = pt.idle_power_w;
    const bool net = std::isfinite(r.net_energy_j);
    if (!net) add_flag(r.flags, "no-idle-baseline-gross-per-token");
    const double e = net ? r.net_energy_j : r.gross_energy_j;
    r.j_per_token = e / double(r.generated_tokens);
    r.j_per_1k_tokens = 1000.0 * r.j_per_token;
    r.j_per_request = e / double(r.batch);
    r.prefill_j_per_token = pp.j_per_token;
    r.decode_j_per_token = pd.j_per_token;
    const double counter = pt.gross_energy_j, timeline = pt.timeline_energy_j;
    if (std::isfinite(counter) && std::isfinite(timeline) && counter > 0)
      r.counter_vs_timeline = (counter - timeline) / counter;
    if (!tot.devices.empty()) {
      const auto& d = tot.devices.front();
      r.temp_start_c = derived ? pre.devices.front().temp_start_c : d.temp_start_c;
      r.temp_end_c = d.temp_end_c;
      r.sm_clock_mhz = d.sm_clock_end_mhz;
      r.mem_clock_mhz = d.mem_clock_end_mhz;
    }
  } else {
    r.phases = {pp, pd, pt};
    for (auto& p : r.phases) {
      p.gross_energy_j = p.net_energy_j = p.timeline_energy_j = kNaN;
      p.j_per_token = kNaN;
    }
  }
  double host = 0;
  bool any_host = false;
  for (const auto& h : tot.host)
    if (h.available) {
      host += h.joules;
      any_host = true;
    }
  if (any_host) r.host_energy_j = host / k_total;  // the total window holds k_total whole runs
  if (r.phases.empty()) r.phases = {pp, pd, pt};
  if (keep_timeline && ctx.energy) {
    for (const auto& s : m.timeline(t0, t1))
      r.timeline.push_back(
          {s.t - t0, s.device, s.watts, s.temperature_c, s.sm_clock_mhz, s.mem_clock_mhz});
  }
  return r;
}

double cv_of(const std::vector<store::RunRecord>& runs, double store::RunRecord::*field) {
  std::vector<double> xs;
  for (const auto& r : runs)
    if (std::isfinite(r.*field)) xs.push_back(r.*field);
  if (xs.size() < 2) return kNaN;
  return analysis::coefficient_of_variation(xs);
}

}  // namespace

int64_t Workload::prompt_tokens() const {
  int64_t n = 0;
  for (const auto& p : prompts) n += int64_t(p.size());
  return n;
}

std::vector<std::vector<int32_t>> make_prompts(int batch, int prompt_len, int vocab,
                                               uint64_t seed) {
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(batch));
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& p : prompts)
    for (int i = 0; i < prompt_len; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;  // LCG (Knuth MMIX)
      p.push_back(int32_t((state >> 33) % uint64_t(vocab)));
    }
  return prompts;
}

void stabilise(MeasureContext& ctx, Workload& w) {
  const auto& p = ctx.protocol;
  store::ProtocolEvent ev;
  ev.config_id = ctx.config_id;
  ev.step = "thermal-stabilisation";
  if (p.stabilise_max_s <= 0) {
    ev.outcome = "disabled";
    ctx.store.add_event(ctx.session_id, ev);
    return;
  }
  auto temp_now = [&] {
    const auto s = ctx.meter.sample_now();
    return s.empty() ? kNaN : s.front().temperature_c;
  };
  const double start = ctx.meter.now();
  const double first = ctx.energy ? temp_now() : kNaN;
  if (!std::isfinite(first)) {
    ev.outcome = "skipped";
    ev.details_json = nlohmann::json{{"reason", "no GPU temperature reading"}}.dump();
    ctx.store.add_event(ctx.session_id, ev);
    ctx.progress.step("thermal stabilisation", "skipped (no GPU temperature reading)");
    return;
  }
  std::vector<std::pair<double, double>> history{{start, first}};
  bool stable = false;
  int passes = 0;
  while (true) {
    prefill(w);
    decode(w);
    ++passes;
    const double t = ctx.meter.now();
    history.emplace_back(t, temp_now());
    // Stable when the trailing stabilise_window_s of readings spans less than delta.
    if (t - start >= p.stabilise_window_s) {
      double lo = 1e300, hi = -1e300;
      for (auto it = history.rbegin();
           it != history.rend() && t - it->first <= p.stabilise_window_s; ++it) {
        lo = std::min(lo, it->second);
        hi = std::max(hi, it->second);
      }
      if (hi - lo < p.stabilise_delta_c) {
        stable = true;
        break;
      }
    }
    if (t - start >= p.stabilise_max_s) break;
  }
  ev.seconds = ctx.meter.now() - start;
  ev.outcome = stable ? "stable" : "timeout";
  ev.details_json = nlohmann::json{
      {"temp_start_c", first},
      {"temp_end_c", history.back().second},
      {"workload_passes",
       passes}}.dump();
  ctx.store.add_event(ctx.session_id, ev);
  ctx.progress.step("thermal stabilisation",
                    fmt::format("{} after {:.1f} s ({:.1f} -> {:.1f} C)", ev.outcome, ev.seconds,
                                first, history.back().second));
}

std::vector<store::StatRecord> summarize_runs(const std::vector<store::RunRecord>& runs,
                                              int round) {
  using R = store::RunRecord;
  const std::pair<const char*, double R::*> fields[] = {
      {"seconds", &R::seconds},
      {"prefill_tok_s", &R::prefill_tok_s},
      {"decode_tok_s", &R::decode_tok_s},
      {"mean_power_w", &R::mean_power_w},
      {"peak_power_w", &R::peak_power_w},
      {"gross_energy_j", &R::gross_energy_j},
      {"net_energy_j", &R::net_energy_j},
      {"j_per_token", &R::j_per_token},
      {"j_per_1k_tokens", &R::j_per_1k_tokens},
      {"j_per_request", &R::j_per_request},
      {"prefill_j_per_token", &R::prefill_j_per_token},
      {"decode_j_per_token", &R::decode_j_per_token}};
  std::vector<store::StatRecord> out;
  for (const auto& [name, field] : fields) {
    std::vector<double> xs;
    for (const auto& r : runs)
      if (std::isfinite(r.*field)) xs.push_back(r.*field);
    store::StatRecord s;
    s.metric = name;
    s.round = round;
    s.n = int(xs.size());
    if (!xs.empty()) {
      const auto sum = analysis::summarize(xs);
      s.mean = sum.mean;
      s.sd = sum.sd;
      s.cv = sum.cv;
      s.ci_low = sum.ci_low;
      s.ci_high = sum.ci_high;
    }
    out.push_back(s);
  }
  return out;
}

ConfigOutcome measure_configuration(MeasureContext& ctx, Workload& w) {
  const auto& p = ctx.protocol;
  ConfigOutcome out;
  for (int round = 0; round <= p.max_reruns; ++round) {
    // Warm-ups (discarded from statistics, stored flagged). The last one also sizes k.
    int k = 1, k_total = 1;
    for (int i = 0; i < p.warmup; ++i) {
      ctx.progress.run_started({round, i, true}, p.warmup);
      store::RunRecord r = execute_run(ctx, w, 1, 1, false);
      r.round = round;
      r.index = i;
      r.warmup = true;
      ctx.store.insert_run(r);
      ctx.progress.run_finished(r);
    }
    if (ctx.energy && p.min_counter_updates > 0) {
      // Probe the counter's update rate on one unstored run: updates per second of the total.
      auto& m = ctx.meter;
      m.begin("probe-prefill");
      prefill(w);
      const auto probe_pre = m.end("probe-prefill");
      m.begin("probe-total");
      prefill(w);
      decode(w);
      const auto probe_tot = m.end("probe-total");
      const double rate =
          probe_tot.duration_s > 0 ? resolution(probe_tot) / probe_tot.duration_s : 0;
      const double shortest = std::max(probe_pre.duration_s, 1e-9);
      // The sampler sees at most one counter update per sample interval, so a window with
      // min_counter_updates updates lasts at least that many intervals: a lower bound on k
      // that holds even when the probe saw no update at all.
      const double min_window = p.min_counter_updates * p.sample_interval_s;
      double want = min_window > 0 ? std::ceil(min_window / shortest) : 1.0;
      if (rate > 0 && rate * shortest < p.min_counter_updates)
        want = std::max(want, std::ceil(p.min_counter_updates / (rate * shortest)));
      k = int(std::clamp(want, 1.0, double(p.max_repetitions)));
      // The total window (whole runs) by the same rule, from its own length.
      const double run_s = std::max(probe_tot.duration_s, 1e-9);
      double want_total = min_window > 0 ? std::ceil(min_window / run_s) : 1.0;
      if (rate > 0 && rate * run_s < p.min_counter_updates)
        want_total = std::max(want_total, std::ceil(p.min_counter_updates / (rate * run_s)));
      k_total = int(std::clamp(want_total, 1.0, double(p.max_repetitions)));
      // The probe's rate can be off for short runs (the reads at the window's ends count as
      // updates too), so check the shortest window, k prefills, and grow k until it sees
      // enough updates (a few attempts, at most 4x each, never beyond max_repetitions).
      for (int attempt = 0; attempt < 4 && k < p.max_repetitions; ++attempt) {
        m.begin("probe-check");
        for (int i = 0; i < k; ++i) prefill(w);
        const int seen = resolution(m.end("probe-check"));
        if (seen >= p.min_counter_updates) break;
        const double grown = std::ceil(1.25 * k * p.min_counter_updates / std::max(seen, 1));
        k = int(std::clamp(grown, double(k + 1), std::min(4.0 * k, double(p.max_repetitions))));
      }
    }
    // A whole run is longer than its prefill, so k whole runs always suffice; the probe's
    // timings are noisy on a busy host and must not ask for more. Then the same check as for
    // the prefill window: k_total whole runs must see enough updates, else grow (up to k).
    k_total = std::min(k_total, k);
    if (ctx.energy && p.min_counter_updates > 0) {
      for (int attempt = 0; attempt < 4 && k_total < k; ++attempt) {
        ctx.meter.begin("probe-check-total");
        for (int i = 0; i < k_total; ++i) {
          prefill(w);
          decode(w);
        }
        const int seen = resolution(ctx.meter.end("probe-check-total"));
        if (seen >= p.min_counter_updates) break;
        const double grown = std::ceil(1.25 * k_total * p.min_counter_updates / std::max(seen, 1));
        k_total = int(std::clamp(grown, double(k_total + 1), std::min(4.0 * k_total, double(k))));
      }
    }
    out.k = k;
    out.k_total = k_total;
    std::vector<store::RunRecord> measured;
    for (int i = 0; i < p.runs; ++i) {
      ctx.progress.run_started({round, i, false}, p.runs);
      store::RunRecord r = execute_run(ctx, w, k, k_total, p.store_timeline);
      r.round = round;
      r.index = i;
      if (k == p.max_repetitions && k > 1) add_flag(r.flags, "max-repetitions");
      r.id = ctx.store.insert_run(r);
      ctx.progress.run_finished(r);
      measured.push_back(std::move(r));
    }
    GateRound g;
    g.round = round;
    g.cv_decode_tok_s = cv_of(measured, &store::RunRecord::decode_tok_s);
    g.cv_decode_j_per_token = cv_of(measured, &store::RunRecord::decode_j_per_token);
    g.throughput_ok = std::isfinite(g.cv_decode_tok_s) && g.cv_decode_tok_s < p.max_cv_decode_tok_s;
    g.energy_ok = !ctx.energy || (std::isfinite(g.cv_decode_j_per_token) &&
                                  g.cv_decode_j_per_token < p.max_cv_decode_j_per_token);
    out.gate_rounds.push_back(g);
    out.rounds = round + 1;
    out.final_runs = std::move(measured);
    const std::string detail =
        fmt::format("CV decode tok/s {:.2f} % (max {:.2f} %), CV decode J/token {} (max {:.2f} %)",
                    100 * g.cv_decode_tok_s, 100 * p.max_cv_decode_tok_s,
                    ctx.energy ? fmt::format("{:.2f} %", 100 * g.cv_decode_j_per_token)
                               : std::string("not measured"),
                    100 * p.max_cv_decode_j_per_token);
    store::ProtocolEvent ev;
    ev.config_id = ctx.config_id;
    ev.step = "gate";
    ev.outcome = g.passed() ? "pass" : (round < p.max_reruns ? "fail-rerun" : "fail");
    ev.details_json = nlohmann::json{{"round", round},
                                     {"k", k},
                                     {"cv_decode_tok_s", g.cv_decode_tok_s},
                                     {"cv_decode_j_per_token",
                                      ctx.energy ? nlohmann::json(g.cv_decode_j_per_token)
                                                 : nlohmann::json(nullptr)},
                                     {"max_cv_decode_tok_s", p.max_cv_decode_tok_s},
                                     {"max_cv_decode_j_per_token", p.max_cv_decode_j_per_token}}
                          .dump();
    ctx.store.add_event(ctx.session_id, ev);
    ctx.progress.step(fmt::format("gate round {}", round), ev.outcome + ": " + detail);
    if (g.passed()) {
      out.gate = round == 0 ? "passed" : "passed-after-rerun";
      return out;
    }
  }
  out.gate = "failed";
  return out;
}

}  // namespace eco::bench
