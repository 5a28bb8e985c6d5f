// The sweep: models resolved and hashed, the plan stored, then each model loaded once, each
// format quantized once (one engine per model and format, sized for its largest batch and
// context), and each configuration measured through the protocol.
#include "bench/sweep.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <new>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/counter_period.h"
#include "bench/eta.h"
#include "bench/idle.h"
#include "bench/measure.h"
#include "bench/plan.h"
#include "bench/provenance.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "model/resolve.h"

namespace eco::bench {

namespace fs = std::filesystem;

namespace {

struct PreparedModel {
  std::string source;
  fs::path dir;
  model::ModelConfig config;
  std::vector<int32_t> text_ids;  // with a text prompt
  std::vector<int> prompt_lens;
  nlohmann::json prompt;      // what the configurations record about their prompt
  std::string protocol_json;  // the protocol and the prompt
  store::ModelRecord record;
};

PreparedModel prepare_model(const SweepSpec& spec, const std::string& m) {
  PreparedModel pm;
  pm.source = m;
  pm.dir = model::resolve_model(m);
  const bool synthetic = model::is_synthetic_spec(m);
  pm.config = model::load_config(pm.dir);
  if (spec.prompt_text) {
    const auto tok = tokenizer_for_model(pm.dir, synthetic);
    pm.text_ids = encode_prompt(tok, *spec.prompt_text, pm.config.vocab_size, m);
    pm.prompt_lens = {int(pm.text_ids.size())};
    pm.prompt = text_prompt_record(*spec.prompt_text, pm.text_ids);
  } else {
    pm.prompt_lens = spec.prompt_lens;
    pm.prompt = seeded_prompt_record(spec.protocol.prompt_seed);
  }
  nlohmann::json pj = spec.protocol.to_json();
  pj["prompt"] = pm.prompt;
  pm.protocol_json = pj.dump();
  pm.record.source = m;
  if (synthetic) {
    const auto so = model::parse_synthetic_spec(m);
    pm.record.synthetic_shape = so.shape;
    pm.record.synthetic_seed = int64_t(so.seed);
  }
  pm.record.config_json = model::config_to_json(pm.config);
  pm.record.weights_sha256_json = hash_model_files(pm.dir, synthetic);
  pm.record.parameter_count = pm.config.parameter_count();
  return pm;
}

// Every model resolved (and a text prompt tokenized) before anything is stored or run, so bad
// input fails early and leaves the study as it was. Two spellings of one directory are one
// model.
std::vector<PreparedModel> prepare_models(SweepSpec& spec) {
  std::vector<PreparedModel> out;
  std::vector<std::string> kept;
  for (const auto& m : spec.models) {
    PreparedModel pm = prepare_model(spec, m);
    std::error_code ec;
    const bool dup = std::any_of(out.begin(), out.end(), [&](const PreparedModel& o) {
      return !model::is_synthetic_spec(m) && fs::equivalent(o.dir, pm.dir, ec);
    });
    if (dup) continue;
    kept.push_back(m);
    out.push_back(std::move(pm));
  }
  spec.models = kept;
  return out;
}

// The prompt a configuration was measured with, from its stored protocol JSON (configurations
// stored before prompts were recorded used seeded random prompts).
nlohmann::json stored_prompt(const std::string& protocol_json, uint64_t default_seed) {
  const auto j = nlohmann::json::parse(protocol_json, nullptr, false);
  if (j.is_object() && j.contains("prompt")) return j.at("prompt");
  const uint64_t seed = j.is_object() && j.contains("prompt_seed") && j["prompt_seed"].is_number()
                            ? j["prompt_seed"].get<uint64_t>()
                            : default_seed;
  return seeded_prompt_record(seed);
}

bool same_prompt(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.value("kind", "") != b.value("kind", "")) return false;
  if (a.value("kind", "") == "text")
    return a.value("token_ids", nlohmann::json()) == b.value("token_ids", nlohmann::json());
  return a.value("seed", nlohmann::json()) == b.value("seed", nlohmann::json());
}

ExistingConfig existing_config(const store::ConfigRecord& rec, const nlohmann::json& prompt_now,
                               uint64_t seed) {
  ExistingConfig e;
  e.id = rec.id;
  e.status = rec.status;
  const auto before = stored_prompt(rec.protocol_json, seed);
  e.same_prompt = same_prompt(before, prompt_now);
  e.stored_prompt = before.value("kind", "") == "text" ? before.value("origin", "a text")
                                                       : std::string("seeded random ids");
  return e;
}

engine::DeviceKind resolve_device(const std::string& name) {
  const engine::DeviceKind d = engine::parse_device(name);
  if (d != engine::DeviceKind::Auto) return d;
  return engine::cuda_available() ? engine::DeviceKind::Cuda : engine::DeviceKind::Cpu;
}

enum class Stage { Load, Engine, Measure };
const char* to_string(Stage s) {
  switch (s) {
    case Stage::Load:
      return "load";
    case Stage::Engine:
      return "engine";
    case Stage::Measure:
      return "measure";
  }
  return "?";
}

// Everything one sweep shares between its models and configurations.
struct Sweep {
  const SweepSpec& spec;
  store::Store& store;
  ProgressSink& progress;
  meter::Meter& meter;
  const SweepHooks& hooks;
  engine::DeviceKind device;
  bool energy = false;
  int64_t session = 0;
  std::vector<PreparedModel> models;
  std::vector<PlannedConfig> plan;
  SweepResult result;
  std::unique_ptr<IdleBaseline> idle;
  double counter_period_s = 0;  // 0: unknown (bench/counter_period.h)
  bool stopped = false;         // SweepHooks::proceed said stop
  std::unique_ptr<EtaEstimator> eta;
  std::vector<size_t> eta_index;  // plan index -> index in the ETA's list
  double now() const { return hooks.clock ? hooks.clock() : meter.now(); }
};

// The session, models, formats and configurations in one transaction: a sweep refused here
// (existing configurations without --resume) changes nothing.
void store_plan(Sweep& s) {
  auto tx = s.store.transaction();
  s.session = s.store.add_session(collect_session(s.spec.command, s.meter));
  std::vector<int64_t> model_ids;
  for (const auto& pm : s.models) model_ids.push_back(s.store.upsert_model(pm.record));
  std::map<std::string, int64_t> format_ids;
  for (const auto& f : s.spec.formats) {
    const auto fspec = s.spec.format_spec(f);
    format_ids[f] = s.store.upsert_format({fspec.name(), format_params(fspec)});
  }
  std::vector<std::vector<int>> prompt_lens;
  for (const auto& pm : s.models) prompt_lens.push_back(pm.prompt_lens);
  s.plan = enumerate_configurations(s.spec.models, s.spec.formats, s.spec.batches, prompt_lens,
                                    s.spec.gen_lens);
  if (s.hooks.include)
    std::erase_if(s.plan, [&](const PlannedConfig& pc) {
      return !s.hooks.include(s.spec.models[pc.model], pc.format, pc.batch, pc.prompt_len,
                              pc.gen_len);
    });
  const std::string device(engine::device_name(s.device));
  auto key = [&](const PlannedConfig& pc) {
    return store::ConfigKey{
        model_ids[pc.model], format_ids[pc.format], pc.batch, pc.prompt_len, pc.gen_len, device};
  };
  for (auto& pc : s.plan)
    if (auto rec = s.store.find_config(key(pc)))
      pc.existing = existing_config(*rec, s.models[pc.model].prompt, s.spec.protocol.prompt_seed);
  plan_sweep(s.plan, {s.spec.resume, s.spec.retry_failed, s.store.path().string(), device});
  for (auto& pc : s.plan)
    if (!pc.existing)
      pc.config_id = s.store.create_config(key(pc), s.models[pc.model].protocol_json);
  tx.commit();
}

std::unique_ptr<engine::Engine> build_engine(Sweep& s, const model::ModelWeights& w,
                                             const engine::EngineOptions& eo) {
  ++s.result.engines_built;
  return s.hooks.make_engine ? s.hooks.make_engine(w, eo) : engine::create_engine(w, eo);
}

engine::EngineOptions engine_options(const Sweep& s, const std::string& format, int batch,
                                     int context) {
  engine::EngineOptions eo;
  eo.device = s.device;
  eo.format = s.spec.format_spec(format);
  eo.max_batch = batch;
  eo.max_context = context;
  return eo;
}

void tally(Sweep& s, const ConfigOutcome& out) {
  ++s.result.done;
  s.result.gates_passed += out.gate == store::GateOutcome::Passed;
  s.result.gates_passed_after_rerun += out.gate == store::GateOutcome::PassedAfterRerun;
  s.result.gates_failed += out.gate == store::GateOutcome::Failed;
  s.result.energy_faults += !out.fault.empty();
}

std::string gate_json(const ConfigOutcome& out, bool energy) {
  nlohmann::json rounds = nlohmann::json::array();
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
  for (const auto& g : out.gate_rounds)
    rounds.push_back({{"round", g.round},
                      {"n", g.n},
                      {"cv_decode_tok_s", num(g.cv_decode_tok_s)},
                      {"cv_decode_j_per_token", num(g.cv_decode_j_per_token)},
                      {"ci_decode_tok_s", num(g.ci_decode_tok_s)},
                      {"ci_decode_j_per_token", num(g.ci_decode_j_per_token)},
                      {"throughput_ok", g.throughput_ok},
                      {"energy_ok", g.energy_ok},
                      {"energy_evaluated", energy},
                      {"set_aside", set_aside_json(g)},
                      {"fault", g.fault}});
  nlohmann::json j{{"k_prefill", out.reps.prefill},
                   {"k_decode", out.reps.decode},
                   {"decode", out.reps.direct_decode ? "direct" : "derived"},
                   {"rounds", rounds}};
  if (out.reps.decode_target_s > 0) {
    j["window_sizing"] = {{"prefill_target_s", out.reps.prefill_target_s},
                          {"prefill_probe_s", out.reps.prefill_probe_s},
                          {"decode_target_s", out.reps.decode_target_s},
                          {"decode_probe_s", out.reps.decode_probe_s}};
    // Prefill timed on the host clock (prefill_probe_s is then k x the timed prefill, not a
    // metered window); decode metered at one repetition, then at its k.
    if (out.reps.timed) {
      j["window_sizing"]["method"] = "timed-prefill";
      j["window_sizing"]["prefill_rep_s"] = out.reps.prefill_rep_s;
      j["window_sizing"]["decode_rep_s"] = out.reps.decode_rep_s;
    }
  }
  return j.dump();
}

// Measures one configuration on `eng` (or an engine of its own when null) and stores the
// outcome; an error stops this configuration only.
void run_configuration(Sweep& s, PlannedConfig& pc, const model::ModelWeights* weights,
                       const std::string& load_error, engine::Engine* eng, size_t position) {
  const PreparedModel& pm = s.models[pc.model];
  const double started = s.now();
  s.progress.config_started(int(position), s.result.configurations, pc.label);
  Stage stage = Stage::Load;
  store::ConfigStatus status = store::ConfigStatus::Failed;
  std::string detail;
  try {
    s.store.start_config(pc.config_id, s.session, "", pm.protocol_json,
                         s.energy ? "" : s.result.energy_note);
    if (!weights) fail("cannot load model '{}': {}", pm.source, load_error);
    const int max_pos = weights->config.max_position_embeddings;
    if (max_pos > 0 && pc.prompt_len + pc.gen_len > max_pos)
      fail(
          "a {}-token prompt and {} generated tokens exceed the model's context of {} tokens "
          "(max_position_embeddings): use a shorter --prompt-len or --gen-len",
          pc.prompt_len, pc.gen_len, max_pos);
    stage = Stage::Engine;
    std::unique_ptr<engine::Engine> own;
    if (!eng) {
      own = build_engine(s, *weights,
                         engine_options(s, pc.format, pc.batch, pc.prompt_len + pc.gen_len));
      eng = own.get();
    }
    s.store.set_config_engine(pc.config_id, eng->describe());
    stage = Stage::Measure;
    Workload w{*eng,
               s.spec.prompt_text
                   ? std::vector<std::vector<int32_t>>(size_t(pc.batch), pm.text_ids)
                   : make_prompts(pc.batch, pc.prompt_len, weights->config.vocab_size,
                                  s.spec.protocol.prompt_seed),
               pc.gen_len};
    const bool cpu_with_meter = s.device == engine::DeviceKind::Cpu && s.energy;
    MeasureContext ctx{
        s.store,   s.meter,      s.progress, s.spec.protocol,
        s.session, pc.config_id, s.energy,   cpu_with_meter ? "cpu-engine-gpu-meter" : ""};
    ctx.counter_period_s = s.counter_period_s;
    const ConfigOutcome out = measure_configuration(ctx, w);
    s.store.finish_config(pc.config_id, out.gate, gate_json(out, s.energy), out.rounds,
                          summarize_runs(out.final_runs, out.rounds - 1));
    tally(s, out);
    status = store::ConfigStatus::Done;
    detail = fmt::format("gate {}", store::to_string(out.gate));
    if (!out.fault.empty()) detail += ", energy readings failed: " + out.fault;
  } catch (const std::bad_alloc&) {
    detail = std::string(to_string(stage)) + ": out of memory";
    s.store.fail_config(pc.config_id, to_string(stage), "out of memory");
  } catch (const std::exception& e) {
    detail = std::string(to_string(stage)) + ": " + e.what();
    s.store.fail_config(pc.config_id, to_string(stage), e.what());
  }
  if (status != store::ConfigStatus::Done) ++s.result.failed;
  s.eta->finished(s.eta_index[position - 1], s.now() - started);
  s.progress.eta(s.eta->seconds_left());
  s.progress.config_finished(pc.label, status, detail);
}

void cooldown(Sweep& s, const PlannedConfig& pc) {
  const double c = s.spec.protocol.cooldown_s;
  if (c <= 0) return;
  std::this_thread::sleep_for(std::chrono::duration<double>(c));
  store::ProtocolEvent ev;
  ev.config_id = pc.config_id;
  ev.step = "cooldown";
  ev.seconds = c;
  ev.outcome = "done";
  s.store.add_event(s.session, ev);
}

// Whether configuration i may start (SweepHooks::proceed); once told to stop, the sweep stops.
bool proceed(Sweep& s, size_t i) {
  if (!s.stopped && s.hooks.proceed && !s.hooks.proceed(s.plan[i])) s.stopped = true;
  return !s.stopped;
}

// The configurations of one model and format share one engine, built for the largest batch
// and context among them; when it cannot be built (say out of memory at the largest batch),
// each configuration builds its own, so the smaller ones still run.
void measure_format(Sweep& s, const model::ModelWeights* weights, const std::string& load_error,
                    const std::vector<size_t>& group) {
  if (!proceed(s, group[0])) return;
  std::unique_ptr<engine::Engine> shared;
  if (weights && group.size() > 1) {
    int batch = 1, context = 1;
    for (size_t i : group) {
      batch = std::max(batch, s.plan[i].batch);
      context = std::max(context, s.plan[i].prompt_len + s.plan[i].gen_len);
    }
    const int max_pos = weights->config.max_position_embeddings;
    if (max_pos > 0) context = std::min(context, max_pos);
    try {
      shared =
          build_engine(s, *weights, engine_options(s, s.plan[group[0]].format, batch, context));
    } catch (const std::exception& e) {
      s.progress.warning(fmt::format(
          "{} {}: one engine for batch sizes up to {} failed ({}); "
          "building one per configuration",
          s.models[s.plan[group[0]].model].source, s.plan[group[0]].format, batch, e.what()));
    }
  }
  for (size_t i : group) {
    if (i != group[0] && !proceed(s, i)) return;
    PlannedConfig& pc = s.plan[i];
    const bool fits = shared && pc.prompt_len + pc.gen_len <= shared->options().max_context;
    const int failed_before = s.result.failed;
    run_configuration(s, pc, weights, load_error, fits ? shared.get() : nullptr, i + 1);
    // An engine that failed mid-run may hold a broken state: the next configuration builds
    // afresh.
    if (s.result.failed != failed_before) shared.reset();
    cooldown(s, pc);
    s.idle->maybe_recheck();
  }
}

// Loads the model once and measures its configurations, grouped by format.
void measure_model(Sweep& s, size_t model) {
  std::map<std::string, std::vector<size_t>> by_format;
  std::vector<std::string> format_order;
  for (size_t i = 0; i < s.plan.size(); ++i) {
    const PlannedConfig& pc = s.plan[i];
    if (pc.model != model || pc.action == PlanAction::Skip) continue;
    if (!by_format.count(pc.format)) format_order.push_back(pc.format);
    by_format[pc.format].push_back(i);
  }
  if (format_order.empty() || s.stopped) return;
  std::optional<model::ModelWeights> weights;
  std::string load_error;
  const double t0 = s.now();
  try {
    const fs::path& dir = s.models[model].dir;
    weights = s.hooks.load_model ? s.hooks.load_model(dir) : model::load_model(dir);
    ++s.result.model_loads;
  } catch (const std::exception& e) {
    load_error = e.what();
  }
  s.eta->model_loaded(model, s.now() - t0);
  for (const auto& f : format_order)
    measure_format(s, weights ? &*weights : nullptr, load_error, by_format[f]);
}

void start_eta(Sweep& s) {
  std::vector<EtaEstimator::Item> items;
  std::vector<int64_t> params;
  for (const auto& pm : s.models) params.push_back(pm.record.parameter_count);
  s.eta_index.assign(s.plan.size(), 0);
  for (size_t i = 0; i < s.plan.size(); ++i) {
    if (s.plan[i].action == PlanAction::Skip) continue;
    s.eta_index[i] = items.size();
    items.push_back({s.plan[i].model, s.plan[i].format, s.plan[i].batch});
  }
  s.eta = std::make_unique<EtaEstimator>(std::move(items), std::move(params));
}

std::unique_ptr<meter::Meter> default_meter(const ProtocolOptions& p) {
  meter::MeterOptions mo;
  mo.interval_s = p.sample_interval_s;
  mo.min_counter_updates = p.min_counter_updates;
  return std::make_unique<meter::Meter>(mo);
}

// The sweep's idle baseline: (when the hooks ask) the first one this store holds for the same
// GPU, else metered now.
void adopt_or_measure_idle(Sweep& s) {
  if (s.hooks.idle_from_store && s.energy && !s.meter.devices().empty()) {
    if (const auto ev = s.store.first_idle_baseline(s.meter.devices().front().uuid)) {
      const auto details = nlohmann::json::parse(ev->details_json, nullptr, false);
      std::vector<double> watts;
      if (details.is_object() && details.contains("idle_power_w"))
        for (const auto& w : details["idle_power_w"])
          watts.push_back(w.is_number() ? w.get<double>() : NAN);
      return s.idle->adopt(watts,
                           fmt::format("session {} of this study at {}", ev->session_id, ev->at));
    }
  }
  s.idle->measure();
}

}  // namespace

SweepResult run_sweep(const SweepSpec& spec_in, store::Store& store, ProgressSink& progress,
                      meter::Meter* supplied_meter, const SweepHooks& hooks) {
  SweepSpec spec = spec_in;
  spec.normalize();
  spec.validate();
  std::unique_ptr<meter::Meter> own_meter = supplied_meter ? nullptr : default_meter(spec.protocol);
  meter::Meter& meter = supplied_meter ? *supplied_meter : *own_meter;
  Sweep s{spec, store, progress, meter, hooks, resolve_device(spec.device)};
  s.energy = meter.gpu_available();
  if (!s.energy) s.result.energy_note = meter.gpu_unavailable_reason();
  s.models = prepare_models(spec);
  store_plan(s);
  s.result.configurations = int(s.plan.size());
  for (const auto& pc : s.plan) s.result.skipped += pc.action == PlanAction::Skip;
  progress.sweep_started(s.result.configurations, s.result.skipped);
  if (!s.energy) progress.warning("energy not measured: " + s.result.energy_note);
  if (spec.int8_impl == quant::Int8Impl::ReferenceBnb && s.device == engine::DeviceKind::Cpu)
    progress.warning(
        "--int8-impl reference-bnb changes the CUDA engine only; the CPU engine has one "
        "LLM.int8() implementation (recorded as asked in the format's parameters)");
  start_eta(s);
  s.idle =
      std::make_unique<IdleBaseline>(meter, store, progress, spec.protocol, s.session, s.energy);
  if (s.result.skipped < s.result.configurations) {
    adopt_or_measure_idle(s);
    s.counter_period_s =
        hooks.carried_counter_period_s > 0
            ? reuse_counter_period(hooks.carried_counter_period_s, store, progress, s.session)
            : measure_counter_period(meter, store, progress, spec.protocol, s.session, s.energy);
  }
  for (size_t m = 0; m < s.models.size(); ++m) measure_model(s, m);
  s.result.not_started =
      s.result.configurations - s.result.skipped - s.result.done - s.result.failed;
  if (s.result.skipped < s.result.configurations) s.idle->finish();
  s.result.counter_period_s = s.counter_period_s;
  return s.result;
}

}  // namespace eco::bench
