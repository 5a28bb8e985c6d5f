// One run of a configuration: its windows, and the run record made from them.
#include "bench/measure.h"

#include <algorithm>
#include <cmath>

#include "analysis/stats.h"
#include "bench/window.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "engine/finite_logits.h"

namespace eco::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Comma-separated flags in the order first added, each once; built, never parsed back.
class Flags {
 public:
  void add(const std::string& f) {
    if (f.empty() || std::find(items_.begin(), items_.end(), f) != items_.end()) return;
    items_.push_back(f);
  }
  void add_all(const Flags& other, const std::string& prefix) {
    for (const auto& f : other.items_) add(prefix + f);
  }
  std::string str() const {
    std::string s;
    for (const auto& f : items_) s += (s.empty() ? "" : ",") + f;
    return s;
  }

 private:
  std::vector<std::string> items_;
};

// The windows of one run.
struct RunWindows {
  meter::WindowResult prefill;
  meter::WindowResult second;  // decode (direct) or whole runs (derived)
  double t0 = 0, t1 = 0;
};

RunWindows run_windows(MeasureContext& ctx, Workload& w, const Repetitions& reps) {
  RunWindows out;
  out.t0 = ctx.meter.now();
  {
    ctx.position_saved = false;  // the prefills below start a new position
    Window pre(ctx, "prefill");
    for (int i = 0; i < reps.prefill; ++i) w.prefill();
    out.prefill = pre.end();
  }
  if (reps.direct_decode) {
    // The last prefill left the batch at its post-prefill position: decode re-runs from there.
    out.second = decode_window(ctx, w, reps.decode, "decode");
  } else {
    Window whole(ctx, "total");
    for (int i = 0; i < reps.decode; ++i) {
      w.prefill();
      w.decode();
    }
    out.second = whole.end();
  }
  out.t1 = ctx.meter.now();
  return out;
}

struct Phase {
  store::PhaseRecord record;
  Flags flags;
  std::string fault;  // notes of readings that failed inside the window
};

Phase phase_from(const meter::WindowResult& r, const std::string& name, int k, int64_t tokens,
                 WindowMode mode) {
  Phase ph;
  store::PhaseRecord& p = ph.record;
  p.name = name;
  p.seconds = r.duration_s / k;
  p.tokens = tokens;
  if (k > 1) ph.flags.add(fmt::format("k={}", k));
  if (!r.gpu_available || r.devices.empty()) return ph;
  p.gross_energy_j = r.gross_j() / k;
  p.net_energy_j = r.net_j() / k;
  double integrated = 0, idle = 0, peak = 0;
  int updates = -1;
  for (const auto& d : r.devices) {
    integrated += d.integrated_j;
    idle += d.idle_power_w;
    peak += std::isfinite(d.peak_power_w) ? d.peak_power_w : 0;
    updates = updates < 0 ? d.counter_updates : std::min(updates, d.counter_updates);
    if (d.too_short) ph.flags.add("short-window");
    if (d.disagreement) ph.flags.add("counter-timeline-disagree");
    if (d.fallback_used) ph.flags.add("timeline-energy");
    if (d.counter_reset) ph.flags.add("counter-reset");
    if (!d.aligned && mode == WindowMode::Aligned) ph.flags.add("not-aligned");
    // A window whose readings failed (the GPU lost, say) has no energy, or only part of it.
    if (d.incomplete || !std::isfinite(d.gross_j)) {
      ph.flags.add(d.incomplete ? "incomplete-readings" : "no-energy-readings");
      std::string notes;
      for (const auto& n : d.notes) notes += (notes.empty() ? "" : "; ") + n;
      ph.fault = fmt::format("GPU {}: {}", d.device, notes.empty() ? "readings failed" : notes);
    }
  }
  p.timeline_energy_j = integrated / k;
  p.idle_power_w = idle;
  p.mean_power_w = r.duration_s > 0 ? r.gross_j() / r.duration_s : kNaN;
  p.peak_power_w = peak;
  if (updates >= 0) p.counter_updates = updates;
  const double e = std::isfinite(p.net_energy_j) ? p.net_energy_j : p.gross_energy_j;
  p.j_per_token = tokens > 0 ? e / double(tokens) : kNaN;
  return ph;
}

double per_token(const store::PhaseRecord& p, int64_t tokens) {
  const double e = std::isfinite(p.net_energy_j) ? p.net_energy_j : p.gross_energy_j;
  return tokens > 0 ? e / double(tokens) : kNaN;
}

// Decode as (whole runs) - (prefill), for an engine that cannot restart decode.
store::PhaseRecord derived_decode(const store::PhaseRecord& whole, const store::PhaseRecord& pre,
                                  int64_t tokens) {
  store::PhaseRecord d;
  d.name = "decode";
  d.tokens = tokens;
  d.seconds = whole.seconds - pre.seconds;
  d.gross_energy_j = whole.gross_energy_j - pre.gross_energy_j;
  d.net_energy_j = whole.net_energy_j - pre.net_energy_j;
  d.timeline_energy_j = whole.timeline_energy_j - pre.timeline_energy_j;
  d.idle_power_w = whole.idle_power_w;
  d.mean_power_w = d.seconds > 0 ? d.gross_energy_j / d.seconds : kNaN;
  d.j_per_token = per_token(d, tokens);
  return d;
}

// The whole run per repetition as the sum of its directly metered phases.
store::PhaseRecord summed_total(const store::PhaseRecord& pre, const store::PhaseRecord& dec,
                                int64_t tokens) {
  store::PhaseRecord t;
  t.name = "total";
  t.tokens = tokens;
  t.seconds = pre.seconds + dec.seconds;
  t.gross_energy_j = pre.gross_energy_j + dec.gross_energy_j;
  t.net_energy_j = pre.net_energy_j + dec.net_energy_j;
  t.timeline_energy_j = pre.timeline_energy_j + dec.timeline_energy_j;
  t.idle_power_w = pre.idle_power_w;
  t.mean_power_w = t.seconds > 0 ? t.gross_energy_j / t.seconds : kNaN;
  t.peak_power_w = std::max(pre.peak_power_w, dec.peak_power_w);
  if (pre.counter_updates && dec.counter_updates)
    t.counter_updates = std::min(*pre.counter_updates, *dec.counter_updates);
  t.j_per_token = per_token(t, tokens);
  return t;
}

void fill_energy(store::RunRecord& r, const store::PhaseRecord& pp, const store::PhaseRecord& pd,
                 const store::PhaseRecord& pt, Flags& flags) {
  r.gross_energy_j = pt.gross_energy_j;
  r.net_energy_j = pt.net_energy_j;
  r.mean_power_w = pt.mean_power_w;
  r.peak_power_w = std::max(pt.peak_power_w, pp.peak_power_w);
  r.idle_power_w = pt.idle_power_w;
  const bool net = std::isfinite(r.net_energy_j);
  if (!net) flags.add("no-idle-baseline-gross-per-token");
  const double e = net ? r.net_energy_j : r.gross_energy_j;
  r.j_per_token = e / double(r.generated_tokens);
  r.j_per_1k_tokens = 1000.0 * r.j_per_token;
  r.j_per_request = e / double(r.batch);
  r.prefill_j_per_token = pp.j_per_token;
  r.decode_j_per_token = pd.j_per_token;
  const double counter = pt.gross_energy_j, timeline = pt.timeline_energy_j;
  if (std::isfinite(counter) && std::isfinite(timeline) && counter > 0)
    r.counter_vs_timeline = (counter - timeline) / counter;
}

void fill_device_state(store::RunRecord& r, const RunWindows& win) {
  if (!win.prefill.devices.empty()) r.temp_start_c = win.prefill.devices.front().temp_start_c;
  if (win.second.devices.empty()) return;
  const auto& d = win.second.devices.front();
  r.temp_end_c = d.temp_end_c;
  r.sm_clock_mhz = d.sm_clock_end_mhz;
  r.mem_clock_mhz = d.mem_clock_end_mhz;
}

double host_joules(const meter::WindowResult& w, int k) {
  double host = 0;
  bool any = false;
  for (const auto& h : w.host)
    if (h.available) {
      host += h.joules;
      any = true;
    }
  return any ? host / k : kNaN;
}

store::RunRecord make_run_record(MeasureContext& ctx, Workload& w, const Repetitions& reps,
                                 const RunWindows& win, std::string& fault) {
  store::RunRecord r;
  r.config_id = ctx.config_id;
  r.k = reps.prefill;
  r.batch = int(w.prompts.size());
  r.prompt_tokens = w.prompt_tokens();
  r.generated_tokens = w.generated_tokens();
  r.decode_tokens = w.decode_tokens();
  Flags flags;
  flags.add(ctx.run_flags);
  const WindowMode mode = ctx.protocol.windows;
  Phase pp = phase_from(win.prefill, "prefill", reps.prefill, r.prompt_tokens, mode);
  Phase pd, pt;
  if (reps.direct_decode) {
    pd = phase_from(win.second, "decode", reps.decode, r.decode_tokens, mode);
    pt.record = summed_total(pp.record, pd.record, r.generated_tokens);
    pt.flags.add("sum-of-phases");
    flags.add("decode-direct");
  } else {
    pt = phase_from(win.second, "total", reps.decode, r.generated_tokens, mode);
    pd.record = derived_decode(pt.record, pp.record, r.decode_tokens);
    pd.flags.add("derived-total-minus-prefill");
    flags.add("decode-derived");
  }
  flags.add(fmt::format("windows-{}", to_string(ctx.protocol.windows)));
  for (Phase* p : {&pp, &pd, &pt}) {
    p->record.flags = p->flags.str();
    flags.add_all(p->flags, p->record.name + ":");
  }
  r.prefill_seconds = pp.record.seconds;
  r.decode_seconds = pd.record.seconds;
  r.seconds = pt.record.seconds;
  r.prefill_tok_s = r.prefill_seconds > 0 ? double(r.prompt_tokens) / r.prefill_seconds : kNaN;
  r.decode_tok_s = r.decode_seconds > 0 ? double(r.decode_tokens) / r.decode_seconds : kNaN;
  if (ctx.energy) {
    fill_energy(r, pp.record, pd.record, pt.record, flags);
    fill_device_state(r, win);
    for (const Phase* p : {&pp, &pd, &pt})
      if (!p->fault.empty()) {
        flags.add("energy-fault");
        if (fault.empty()) fault = p->record.name + " window: " + p->fault;
      }
  } else {
    for (Phase* p : {&pp, &pd, &pt}) {
      p->record.gross_energy_j = p->record.net_energy_j = p->record.timeline_energy_j = kNaN;
      p->record.j_per_token = kNaN;
    }
  }
  const double host_pre = host_joules(win.prefill, reps.prefill);
  const double host_second = host_joules(win.second, reps.decode);
  r.host_energy_j = reps.direct_decode ? host_pre + host_second : host_second;
  r.phases = {pp.record, pd.record, pt.record};
  r.flags = flags.str();
  return r;
}

}  // namespace

meter::WindowResult decode_window(MeasureContext& ctx, Workload& w, int k,
                                  const std::string& name) {
  w.engine.save_position();
  ctx.position_saved = true;
  Window win(ctx, name);
  for (int i = 0; i < k; ++i) {
    if (i > 0) w.engine.restore_position();
    w.decode();
  }
  return win.end();
}

void to_post_prefill_position(MeasureContext& ctx, Workload& w) {
  if (ctx.position_saved) {
    w.engine.restore_position();
    return;
  }
  w.prefill();
  ctx.window_just_ended = false;
}

void Workload::prefill() const {
  engine.prefill(prompts);
  engine.synchronize();
}

void Workload::decode() const {
  engine.decode_greedy(gen_len);
  engine.synchronize();
}

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

store::RunRecord execute_run(MeasureContext& ctx, Workload& w, const Repetitions& reps,
                             bool keep_timeline, std::string* fault) {
  const RunWindows win = run_windows(ctx, w, reps);
  // A run whose logits went NaN or infinite measured garbage: fail the configuration, not store.
  engine::check_finite_logits(w.engine, fmt::format("configuration {}", ctx.config_id));
  std::string f;
  store::RunRecord r = make_run_record(ctx, w, reps, win, f);
  if (fault) *fault = f;
  if (keep_timeline && ctx.energy) {
    for (const auto& s : ctx.meter.timeline(win.t0, win.t1))
      r.timeline.push_back(
          {s.t - win.t0, s.device, s.watts, s.temperature_c, s.sm_clock_mhz, s.mem_clock_mhz});
  }
  return r;
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

double relative_ci_half_width(const std::vector<double>& xs) {
  std::vector<double> finite;
  for (double x : xs)
    if (std::isfinite(x)) finite.push_back(x);
  if (finite.size() < 2) return kNaN;
  const auto s = analysis::summarize(finite);
  if (s.mean == 0) return kNaN;
  return (s.ci_high - s.ci_low) / 2 / std::fabs(s.mean);
}

bool ci_within(const std::vector<double>& xs, double target) {
  const double h = relative_ci_half_width(xs);
  return std::isfinite(h) && h <= target;
}

}  // namespace eco::bench
