#include "bench/sweep.h"

#include <chrono>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/measure.h"
#include "bench/provenance.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "engine/engine.h"
#include "model/resolve.h"
#include "model/weights.h"
#include "quant/format.h"
#include "store/export.h"

namespace eco::bench {

namespace fs = std::filesystem;

void SweepSpec::validate() const {
  if (models.empty()) fail("--model: give at least one model directory or synthetic:SHAPE");
  if (formats.empty()) fail("--format: give at least one format (e.g. fp16)");
  if (batches.empty() || prompt_lens.empty() || gen_lens.empty())
    fail("--batch, --prompt-len and --gen-len each need at least one value");
  for (int b : batches)
    if (b < 1) fail("--batch: batch sizes must be at least 1 (got {})", b);
  for (int p : prompt_lens)
    if (p < 1) fail("--prompt-len must be at least 1 (got {})", p);
  for (int g : gen_lens)
    if (g < 2)
      fail(
          "--gen-len must be at least 2: the first token comes from prefill, decode makes the "
          "rest (got {})",
          g);
  for (const auto& f : formats) quant::parse_format(f);
  engine::parse_device(device);
  protocol.validate();
}

int SweepSpec::configuration_count() const {
  return int(models.size() * formats.size() * batches.size() * prompt_lens.size() *
             gen_lens.size());
}

SweepSpec parse_sweep_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
  if (!j.is_object()) fail("{}: a sweep file is a JSON object", source);
  SweepSpec s;
  auto strings = [&](const char* key, std::vector<std::string>& out) {
    const auto& v = j.at(key);
    if (v.is_string())
      out = {v.get<std::string>()};
    else if (v.is_array() && std::all_of(v.begin(), v.end(), [](auto& x) { return x.is_string(); }))
      out = v.get<std::vector<std::string>>();
    else
      fail("{}: '{}' must be a string or a list of strings", source, key);
  };
  auto ints = [&](const char* key, std::vector<int>& out) {
    const auto& v = j.at(key);
    if (v.is_number_integer())
      out = {v.get<int>()};
    else if (v.is_array() &&
             std::all_of(v.begin(), v.end(), [](auto& x) { return x.is_number_integer(); }))
      out = v.get<std::vector<int>>();
    else
      fail("{}: '{}' must be an integer or a list of integers", source, key);
  };
  for (const auto& [key, value] : j.items()) {
    if (key == "models")
      strings("models", s.models);
    else if (key == "formats")
      strings("formats", s.formats);
    else if (key == "batches")
      ints("batches", s.batches);
    else if (key == "prompt_lens")
      ints("prompt_lens", s.prompt_lens);
    else if (key == "gen_lens")
      ints("gen_lens", s.gen_lens);
    else if (key == "device") {
      if (!value.is_string()) fail("{}: 'device' must be a string", source);
      s.device = value.get<std::string>();
    } else if (key == "protocol") {
      s.protocol = ProtocolOptions::from_json(value, source);
    } else {
      fail(
          "{}: unknown key '{}' (known: models, formats, batches, prompt_lens, gen_lens, "
          "device, protocol)",
          source, key);
    }
  }
  return s;
}

SweepSpec load_sweep_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read sweep file '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_sweep_json(ss.str(), path);
}

namespace {

struct PlannedConfig {
  size_t model;
  std::string format;
  int batch, prompt_len, gen_len;
  int64_t config_id = 0;
  bool skip = false;
  std::string label;
};

std::string format_params(const quant::FormatSpec& f) {
  nlohmann::json j = nlohmann::json::object();
  if (f.format == quant::WeightFormat::Int8) {
    j["threshold"] = f.int8_threshold;
    j["impl"] = f.int8_impl == quant::Int8Impl::Fused ? "fused" : "reference-bnb";
  }
  if (f.format == quant::WeightFormat::NF4 || f.format == quant::WeightFormat::NF4DQ)
    j["block"] = 64;
  if (f.format == quant::WeightFormat::NF4DQ) j["absmax_block"] = 256;
  return j.dump();
}

void sleep_s(double s) {
  if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

}  // namespace

SweepResult run_sweep(const SweepSpec& spec, store::Store& store, ProgressSink& progress,
                      meter::Meter* supplied_meter) {
  spec.validate();
  const auto& proto = spec.protocol;
  const engine::DeviceKind requested = engine::parse_device(spec.device);
  engine::DeviceKind device = requested;
  if (device == engine::DeviceKind::Auto)
    device = engine::cuda_available() ? engine::DeviceKind::Cuda : engine::DeviceKind::Cpu;
  const std::string device_name(engine::device_name(device));

  std::unique_ptr<meter::Meter> own_meter;
  if (!supplied_meter) {
    meter::MeterOptions mo;
    mo.interval_s = proto.sample_interval_s;
    mo.min_counter_updates = proto.min_counter_updates;
    own_meter = std::make_unique<meter::Meter>(mo);
  }
  meter::Meter& meter = supplied_meter ? *supplied_meter : *own_meter;

  SweepResult result;
  const bool energy = meter.gpu_available();
  if (!energy) result.energy_note = meter.gpu_unavailable_reason();
  const int64_t session = store.add_session(collect_session(spec.command, meter));

  // Resolve every model and register formats before any run, so bad input fails early.
  std::vector<fs::path> dirs;
  std::vector<int64_t> model_ids;
  for (const auto& m : spec.models) {
    const fs::path dir = model::resolve_model(m);
    const bool synthetic = model::is_synthetic_spec(m);
    const model::ModelConfig cfg = model::load_config(dir);
    store::ModelRecord rec;
    rec.source = m;
    if (synthetic) {
      const auto so = model::parse_synthetic_spec(m);
      rec.synthetic_shape = so.shape;
      rec.synthetic_seed = int64_t(so.seed);
    }
    rec.config_json = model::config_to_json(cfg);
    rec.weights_sha256_json = hash_model_files(dir, synthetic);
    rec.parameter_count = cfg.parameter_count();
    dirs.push_back(dir);
    model_ids.push_back(store.upsert_model(rec));
  }
  std::map<std::string, int64_t> format_ids;
  for (const auto& f : spec.formats) {
    const auto fs_ = quant::parse_format(f);
    format_ids[f] = store.upsert_format({fs_.name(), format_params(fs_)});
  }

  const std::string protocol_json = proto.to_json().dump();
  std::vector<PlannedConfig> plan;
  for (size_t mi = 0; mi < spec.models.size(); ++mi)
    for (const auto& f : spec.formats)
      for (int b : spec.batches)
        for (int pl : spec.prompt_lens)
          for (int gl : spec.gen_lens) {
            PlannedConfig pc{mi, f, b, pl, gl};
            pc.label =
                fmt::format("{} {} batch {} prompt {} gen {}", spec.models[mi], f, b, pl, gl);
            const store::ConfigKey key{model_ids[mi], format_ids[f], b, pl, gl, device_name};
            if (auto existing = store.find_config(key)) {
              if (!spec.resume)
                fail(
                    "database '{}' already holds configuration '{}' on {}: pass --resume to "
                    "continue that sweep, or use a new --db",
                    store.path().string(), pc.label, device_name);
              pc.config_id = existing->id;
              pc.skip = existing->status == "done" || existing->status == "failed";
            } else {
              pc.config_id = store.create_config(key, protocol_json);
            }
            plan.push_back(pc);
          }
  result.configurations = int(plan.size());
  for (const auto& pc : plan) result.skipped += pc.skip;
  progress.sweep_started(result.configurations, result.skipped);
  if (!energy) progress.warning("energy not measured: " + result.energy_note);

  int position = 0;
  for (size_t mi = 0; mi < spec.models.size(); ++mi) {
    const bool any = std::any_of(plan.begin(), plan.end(),
                                 [&](const PlannedConfig& p) { return p.model == mi && !p.skip; });
    if (!any) continue;
    // Idle baseline before each model's configurations (the first is "before the sweep").
    if (energy && proto.idle_seconds > 0) {
      for (const auto& d : meter.devices())
        if (std::isfinite(d.memory_used_mib) && d.memory_used_mib > 1024)
          progress.warning(fmt::format(
              "GPU {} already has {:.0f} MiB in use: another process may be running on it, and "
              "the idle baseline and every energy figure would include its draw",
              d.index, d.memory_used_mib));
      const auto watts = meter.measure_idle(proto.idle_seconds);
      store::ProtocolEvent ev;
      ev.step = "idle-baseline";
      ev.seconds = proto.idle_seconds;
      ev.outcome = "measured";
      ev.details_json = nlohmann::json{{"model", spec.models[mi]}, {"idle_power_w", watts}}.dump();
      store.add_event(session, ev);
      std::string w;
      for (double x : watts) w += fmt::format("{}{:.1f} W", w.empty() ? "" : ", ", x);
      progress.step("idle baseline", w);
    }
    std::optional<model::ModelWeights> weights;
    std::string load_error;
    try {
      weights = model::load_model(dirs[mi]);
    } catch (const std::exception& e) {
      load_error = e.what();
    }
    for (auto& pc : plan) {
      if (pc.model != mi) continue;
      ++position;
      if (pc.skip) continue;
      progress.config_started(position, result.configurations, pc.label);
      const std::string note = energy ? "" : result.energy_note;
      std::string stage = "load";
      try {
        engine::EngineOptions eo;
        eo.device = device;
        eo.format = quant::parse_format(pc.format);
        eo.max_batch = pc.batch;
        eo.max_context = pc.prompt_len + pc.gen_len;
        store.start_config(pc.config_id, session, "", protocol_json, note);
        if (!weights) fail("cannot load model '{}': {}", spec.models[mi], load_error);
        auto eng = engine::create_engine(*weights, eo);
        store.set_config_engine(pc.config_id, eng->describe());
        Workload w{
            *eng,
            make_prompts(pc.batch, pc.prompt_len, weights->config.vocab_size, proto.prompt_seed),
            pc.gen_len};
        MeasureContext ctx{
            store,    meter,
            progress, proto,
            session,  pc.config_id,
            energy,   device == engine::DeviceKind::Cpu && energy ? "cpu-engine-gpu-meter" : ""};
        stage = "stabilise";
        stabilise(ctx, w);
        stage = "measure";
        const ConfigOutcome out = measure_configuration(ctx, w);
        nlohmann::json gj = nlohmann::json::array();
        for (const auto& g : out.gate_rounds)
          gj.push_back({{"round", g.round},
                        {"cv_decode_tok_s", g.cv_decode_tok_s},
                        {"cv_decode_j_per_token", energy ? nlohmann::json(g.cv_decode_j_per_token)
                                                         : nlohmann::json(nullptr)},
                        {"throughput_ok", g.throughput_ok},
                        {"energy_ok", g.energy_ok},
                        {"energy_evaluated", energy}});
        store.finish_config(pc.config_id, "done", out.gate,
                            nlohmann::json{{"k", out.k}, {"rounds", gj}}.dump(), out.rounds,
                            summarize_runs(out.final_runs, out.rounds - 1));
        ++result.done;
        result.gates_passed += out.gate == "passed";
        result.gates_passed_after_rerun += out.gate == "passed-after-rerun";
        result.gates_failed += out.gate == "failed";
        progress.config_finished(pc.label, "done", "gate " + out.gate);
      } catch (const std::bad_alloc&) {
        store.fail_config(pc.config_id, stage, "out of memory");
        ++result.failed;
        progress.config_finished(pc.label, "FAILED", stage + ": out of memory");
      } catch (const std::exception& e) {
        store.fail_config(pc.config_id, stage, e.what());
        ++result.failed;
        progress.config_finished(pc.label, "FAILED", stage + ": " + e.what());
      }
      if (proto.cooldown_s > 0) {
        sleep_s(proto.cooldown_s);
        store::ProtocolEvent ev;
        ev.config_id = pc.config_id;
        ev.step = "cooldown";
        ev.seconds = proto.cooldown_s;
        ev.outcome = "done";
        store.add_event(session, ev);
      }
    }
  }
  return result;
}

}  // namespace eco::bench
