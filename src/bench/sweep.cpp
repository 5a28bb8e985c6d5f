#include "bench/sweep.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/measure.h"
#include "bench/provenance.h"
#include "bench/sweep_toml.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "engine/engine.h"
#include "model/resolve.h"
#include "model/weights.h"
#include "quant/format.h"
#include "store/export.h"

namespace eco::bench {

namespace fs = std::filesystem;

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

quant::Int8Impl parse_int8_impl(const std::string& name, const std::string& source) {
  if (name == "fused") return quant::Int8Impl::Fused;
  if (name == "reference-bnb") return quant::Int8Impl::ReferenceBnb;
  fail("{} '{}': use fused or reference-bnb", source, name);
}

quant::FormatSpec SweepSpec::format_spec(const std::string& name) const {
  quant::FormatSpec f = quant::parse_format(name);
  if (f.format == quant::WeightFormat::Int8) {
    if (int8_threshold >= 0 && f.int8_threshold != 0.0f) f.int8_threshold = int8_threshold;
    if (int8_impl) f.int8_impl = *int8_impl;
  }
  return f;
}

void SweepSpec::validate() const {
  if (models.empty()) fail("--model: give at least one model directory or synthetic:SHAPE");
  if (formats.empty()) fail("--format: give at least one format (e.g. fp16)");
  if (batches.empty() || (prompt_lens.empty() && !prompt_text) || gen_lens.empty())
    fail("--batch, --prompt-len and --gen-len each need at least one value");
  if (prompt_text && prompt_text->text.empty())
    fail("{}: the prompt is empty; give some text", prompt_text->origin);
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
  bool has_int8 = false, has_int8_family = false;
  std::vector<std::string> seen;
  for (const auto& f : formats) {
    const quant::FormatSpec parsed = quant::parse_format(f);
    has_int8_family = has_int8_family || parsed.format == quant::WeightFormat::Int8;
    has_int8 =
        has_int8 || (parsed.format == quant::WeightFormat::Int8 && parsed.int8_threshold != 0);
    const quant::FormatSpec applied = format_spec(f);
    const std::string key = applied.name() + format_params(applied);
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      fail("--format lists {} twice{}: give each format once", applied.name(),
           applied.name() == "int8-pure" && has_int8
               ? " (int8 with --int8-threshold 0 is int8-pure)"
               : "");
    seen.push_back(key);
  }
  if (int8_threshold >= 0 && !has_int8)
    fail("--int8-threshold applies to the int8 format, and --format lists none: add int8");
  if (int8_impl && !has_int8_family)
    fail("--int8-impl applies to int8 and int8-pure, and --format lists neither: add one");
  if (engine::parse_device(device) == engine::DeviceKind::Cuda && !engine::cuda_available())
    fail(
        "--device cuda: no CUDA device is available (this build has no CUDA engine, or no GPU "
        "is visible); use --device cpu, or auto to take CUDA when present");
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
    else if (key == "prompt") {
      if (!value.is_string()) fail("{}: 'prompt' must be a string (the prompt's text)", source);
      if (s.prompt_text) fail("{}: give 'prompt' or 'text', not both", source);
      s.prompt_text = TextPrompt{value.get<std::string>(), source + ": prompt"};
    } else if (key == "text") {
      if (!value.is_string()) fail("{}: 'text' must be a string (a text file's path)", source);
      if (s.prompt_text) fail("{}: give 'prompt' or 'text', not both", source);
      s.prompt_text = read_text_prompt(value.get<std::string>());
    } else if (key == "int8_threshold") {
      if (!value.is_number() || !(value.get<double>() >= 0))
        fail("{}: 'int8_threshold' must be a number >= 0 (0 = pure int8)", source);
      s.int8_threshold = value.get<float>();
    } else if (key == "int8_impl") {
      if (!value.is_string())
        fail("{}: 'int8_impl' must be \"fused\" or \"reference-bnb\"", source);
      s.int8_impl = parse_int8_impl(value.get<std::string>(), source + ": int8_impl");
    } else if (key == "device") {
      if (!value.is_string()) fail("{}: 'device' must be a string", source);
      s.device = value.get<std::string>();
    } else if (key == "protocol") {
      s.protocol = ProtocolOptions::from_json(value, source);
    } else {
      fail(
          "{}: unknown key '{}' (known: models, formats, batches, prompt_lens, gen_lens, "
          "prompt, text, int8_threshold, int8_impl, device, protocol)",
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
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".toml") return parse_sweep_json(toml_to_json(ss.str(), path).dump(), path);
  if (ext == ".json") return parse_sweep_json(ss.str(), path);
  fail("sweep file '{}': name it .toml or .json so that its format is known", path);
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

  // Resolve every model and tokenize a text prompt before anything is stored or run, so bad
  // input fails early and leaves the study as it was.
  std::vector<fs::path> dirs;
  std::vector<store::ModelRecord> model_records;
  std::vector<std::vector<int32_t>> text_ids;  // per model, with a text prompt
  std::vector<std::vector<int>> prompt_lens;   // per model
  std::vector<std::string> protocol_jsons;     // per model: the protocol and the prompt
  for (const auto& m : spec.models) {
    const fs::path dir = model::resolve_model(m);
    const bool synthetic = model::is_synthetic_spec(m);
    const model::ModelConfig cfg = model::load_config(dir);
    nlohmann::json pj = proto.to_json();
    if (spec.prompt_text) {
      const auto tok = tokenizer_for_model(dir, synthetic);
      text_ids.push_back(encode_prompt(tok, *spec.prompt_text, cfg.vocab_size, m));
      prompt_lens.push_back({int(text_ids.back().size())});
      pj["prompt"] = text_prompt_record(*spec.prompt_text, text_ids.back());
    } else {
      text_ids.emplace_back();
      prompt_lens.push_back(spec.prompt_lens);
      pj["prompt"] = seeded_prompt_record(proto.prompt_seed);
    }
    protocol_jsons.push_back(pj.dump());
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
    model_records.push_back(std::move(rec));
  }

  // The session, models, formats and configurations are stored in one transaction: a sweep
  // refused here (existing configurations without --resume) changes nothing.
  store::Transaction planning(store.db());
  const int64_t session = store.add_session(collect_session(spec.command, meter));
  std::vector<int64_t> model_ids;
  for (const auto& rec : model_records) model_ids.push_back(store.upsert_model(rec));
  std::map<std::string, int64_t> format_ids;
  for (const auto& f : spec.formats) {
    const auto fs_ = spec.format_spec(f);
    format_ids[f] = store.upsert_format({fs_.name(), format_params(fs_)});
  }

  std::vector<PlannedConfig> plan;
  for (size_t mi = 0; mi < spec.models.size(); ++mi)
    for (const auto& f : spec.formats)
      for (int b : spec.batches)
        for (int pl : prompt_lens[mi])
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
              const auto before = stored_prompt(existing->protocol_json, proto.prompt_seed);
              const auto now = nlohmann::json::parse(protocol_jsons[mi]).at("prompt");
              if (!same_prompt(before, now))
                fail(
                    "database '{}' holds configuration '{}' on {} measured with another prompt "
                    "({}): resume with the prompt it was started with, or use a new --db",
                    store.path().string(), pc.label, device_name,
                    before.value("kind", "") == "text" ? before.value("origin", "a text")
                                                       : std::string("seeded random ids"));
              pc.config_id = existing->id;
              pc.skip = existing->status == "done" || existing->status == "failed";
            } else {
              pc.config_id = store.create_config(key, protocol_jsons[mi]);
            }
            plan.push_back(pc);
          }
  planning.commit();
  result.configurations = int(plan.size());
  for (const auto& pc : plan) result.skipped += pc.skip;
  progress.sweep_started(result.configurations, result.skipped);
  if (!energy) progress.warning("energy not measured: " + result.energy_note);
  if (spec.int8_impl == quant::Int8Impl::ReferenceBnb && device == engine::DeviceKind::Cpu)
    progress.warning(
        "--int8-impl reference-bnb changes the CUDA engine only; the CPU engine has one "
        "LLM.int8() implementation (recorded as asked in the format's parameters)");

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
        eo.format = spec.format_spec(pc.format);
        eo.max_batch = pc.batch;
        eo.max_context = pc.prompt_len + pc.gen_len;
        store.start_config(pc.config_id, session, "", protocol_jsons[mi], note);
        if (!weights) fail("cannot load model '{}': {}", spec.models[mi], load_error);
        const int max_pos = weights->config.max_position_embeddings;
        if (max_pos > 0 && pc.prompt_len + pc.gen_len > max_pos)
          fail(
              "a {}-token prompt and {} generated tokens exceed the model's context of {} "
              "tokens (max_position_embeddings): use a shorter --prompt-len or --gen-len",
              pc.prompt_len, pc.gen_len, max_pos);
        auto eng = engine::create_engine(*weights, eo);
        store.set_config_engine(pc.config_id, eng->describe());
        Workload w{*eng,
                   spec.prompt_text
                       ? std::vector<std::vector<int32_t>>(size_t(pc.batch), text_ids[mi])
                       : make_prompts(pc.batch, pc.prompt_len, weights->config.vocab_size,
                                      proto.prompt_seed),
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
                            nlohmann::json{{"k", out.k}, {"k_total", out.k_total}, {"rounds", gj}}.dump(), out.rounds,
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
