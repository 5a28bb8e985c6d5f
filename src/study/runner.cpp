// The study's calls: published results in, then per model one resumable sweep of the parts'
// configurations and one quality scoring of its formats, each step checked against the budget.
#include "study/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bench/prompt.h"
#include "bench/quality_store.h"
#include "common/error.h"
#include "engine/engine.h"
#include "model/resolve.h"
#include "model/weights.h"
#include "quality/text.h"
#include "store/export.h"
#include "study/budget.h"
#include "study/published_import.h"

namespace eco::study {

namespace fs = std::filesystem;

std::string resolved_device(const std::string& device) {
  engine::DeviceKind d = engine::parse_device(device);
  if (d == engine::DeviceKind::Auto)
    d = engine::cuda_available() ? engine::DeviceKind::Cuda : engine::DeviceKind::Cpu;
  return std::string(engine::device_name(d));
}

namespace {

std::string format_key(const std::string& canonical) {
  const quant::FormatSpec f = bench::SweepSpec{}.format_spec(canonical);
  return f.name() + "|" + bench::format_params(f);
}

std::string config_key(const std::string& model, const std::string& format_key, int batch,
                       int prompt, int gen, const std::string& device) {
  return fmt::format("{}|{}|{}|{}|{}|{}", model, format_key, batch, prompt, gen, device);
}

std::string cell_text(const store::Cell& c) {
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
  return "";
}

// "model|format|params|ctx" of every stored quality score against fp16.
std::set<std::string> scored_keys(store::Store& st) {
  const store::Table t = store::export_table(st, store::ExportTable::Quality);
  auto col = [&](const char* name) {
    for (size_t i = 0; i < t.columns.size(); ++i)
      if (t.columns[i] == name) return i;
    fail("internal: quality export has no column {}", name);
  };
  const size_t m = col("model"), f = col("format"), p = col("format_params"),
               b = col("base_format"), c = col("ctx");
  std::set<std::string> out;
  for (const auto& r : t.rows)
    if (cell_text(r[b]) == "fp16")
      out.insert(fmt::format("{}|{}|{}|{}", cell_text(r[m]), cell_text(r[f]), cell_text(r[p]),
                             cell_text(r[c])));
  return out;
}

std::string quality_key(const std::string& model, const std::string& format, int ctx) {
  return fmt::format("{}|{}|{}", model, format_key(format), ctx);
}

}  // namespace

StudyStatus study_status(const StudyFile& study, store::Store& st) {
  std::map<std::string, store::ConfigStatus> status;
  for (const auto& v : st.config_views())
    status[config_key(v.model_source, v.format_name + "|" + v.format_params, v.batch, v.prompt_len,
                      v.gen_len, v.device)] = v.status;
  const std::string device = resolved_device(study.sweep.device);
  StudyStatus out;
  std::map<std::string, std::optional<store::ConfigStatus>> distinct;  // nullopt: not in the store
  for (const auto& part : study.parts) {
    PartStatus ps{part.name, part.title};
    for (const auto& m : part.models)
      for (const auto& f : part.formats)
        for (int b : part.batches)
          for (int p : study.sweep.prompt_lens)
            for (int g : study.sweep.gen_lens) {
              const std::string key = config_key(m, format_key(f), b, p, g, device);
              const auto it = status.find(key);
              const std::optional<store::ConfigStatus> s =
                  it == status.end() ? std::nullopt : std::optional(it->second);
              const bool done = s == store::ConfigStatus::Done;
              const bool failed = s == store::ConfigStatus::Failed;
              ++ps.configurations;
              ps.done += done;
              ps.failed += failed;
              ps.remaining += !done && !failed;
              if (!distinct.count(key) && !done) out.todo.push_back({m, f, b});
              distinct[key] = s;
            }
    out.parts.push_back(ps);
  }
  for (const auto& [key, s] : distinct) {
    ++out.configurations;
    out.done += s == store::ConfigStatus::Done;
    out.failed += s == store::ConfigStatus::Failed;
    out.remaining += s != store::ConfigStatus::Done && s != store::ConfigStatus::Failed;
  }
  if (study.quality.enabled) {
    const auto scored = scored_keys(st);
    for (const auto& m : study.models())
      for (const auto& f : study.formats_of(m)) {
        ++out.quality_formats;
        const bool done = scored.count(quality_key(m, f, study.quality.ctx)) > 0;
        out.quality_done += done;
        if (!done) out.quality_todo.emplace_back(m, f);
      }
  }
  out.published = published_present(study, st);
  return out;
}

namespace {

int64_t model_params(const std::string& source) {
  try {
    if (model::is_synthetic_spec(source))
      return model::synth_shape(model::parse_synthetic_spec(source).shape).parameter_count();
    return model::load_config(source).parameter_count();
  } catch (const std::exception&) {
    return 0;  // unknown: the budget falls back to the mean of every step
  }
}

struct Call {
  const StudyFile& study;
  store::Store& st;
  bench::ProgressSink& progress;
  const RunOptions& opt;
  Budget budget;
  RunOutcome out;
  // The counter period of this call's first sweep, carried to the later ones (the idle baseline
  // is the study's, from the store: SweepHooks::idle_from_store).
  double counter_period_s = 0;
};

std::optional<double> sum(std::optional<double> a, std::optional<double> b) {
  if (!a && !b) return std::nullopt;
  return a.value_or(0) + b.value_or(0);
}

bool stop(Call& c, const std::string& what) {
  c.out.stopped_by_budget = true;
  c.progress.warning(fmt::format("study: stopping before {}: {:.0f} s of the budget left", what,
                                 std::max(0.0, c.budget.left())));
  return false;
}

// One sweep of every configuration the parts ask of `model`; false when the budget stopped it.
bool sweep_model(Call& c, const std::string& model, int64_t params) {
  using Kind = Budget::Kind;
  bench::SweepSpec spec = c.study.model_sweep(model);
  spec.command = c.opt.command;
  const bool todo = std::any_of(c.out.status.todo.begin(), c.out.status.todo.end(),
                                [&](const auto& t) { return t.model == model; });
  if (!todo) return true;
  if (!c.budget.fits(sum(c.budget.expected(Kind::ModelStart, model, params),
                         c.budget.expected_config({model, spec.formats[0], spec.batches[0]}))))
    return stop(c, model);
  bench::SweepHooks hooks = c.opt.hooks;
  hooks.idle_from_store = true;  // one idle baseline per study, across its calls
  hooks.carried_counter_period_s = c.counter_period_s;
  double mark = c.budget.now();
  std::optional<bench::ConfigKey> running;  // the configuration under way
  hooks.include = [&](const std::string& m, const std::string& f, int b, int, int) {
    return c.study.includes(m, f, b);
  };
  hooks.proceed = [&](const bench::PlannedConfig& next) {
    const double now = c.budget.now();
    if (running)
      c.budget.took_config(*running, now - mark);
    else
      c.budget.took(Kind::ModelStart, model, params, now - mark);
    const bench::ConfigKey key{model, next.format, next.batch};
    if (!c.budget.fits(c.budget.expected_config(key))) {
      running.reset();
      return stop(c, next.label);
    }
    mark = now;
    running = key;
    return true;
  };
  const bench::SweepResult r = bench::run_sweep(spec, c.st, c.progress, nullptr, hooks);
  if (c.counter_period_s <= 0) c.counter_period_s = r.counter_period_s;
  if (running) c.budget.took_config(*running, c.budget.now() - mark);
  c.out.measured_now += r.done;
  c.out.failed_now += r.failed;
  c.out.energy_faults += r.energy_faults;
  if (!r.energy_note.empty()) c.out.energy_note = r.energy_note;
  return r.not_started == 0;
}

bench::ScoredTokens quality_tokens(const StudyFile& study, const fs::path& dir, bool synthetic) {
  const std::string text = study.quality.text.empty()
                               ? std::string(quality::default_text())
                               : quality::read_file(study.quality.text, "[quality] text");
  const std::string source = study.quality.text.empty()
                                 ? "bundled " + std::string(quality::kDefaultTextName)
                                 : "--text " + study.quality.text;
  return {bench::tokenizer_for_model(dir, synthetic).encode(text, true), source};
}

// Scores `formats` of the model against fp16, formats_per_pass at a time, each pass stored as
// it ends.
void score(Call& c, const std::string& model, const std::vector<std::string>& formats) {
  const fs::path dir = model::resolve_model(model);
  const auto weights = model::load_model(dir);
  const auto tokens = quality_tokens(c.study, dir, model::is_synthetic_spec(model));
  const auto record = bench::model_record(model, dir, weights.config);
  const size_t per_pass = size_t(std::max(1, c.study.quality.formats_per_pass));
  for (size_t first = 0; first < formats.size(); first += per_pass) {
    quality::EvalOptions o;
    o.device = engine::parse_device(c.study.sweep.device);
    o.ctx = c.study.quality.ctx;
    o.max_chunks = c.study.quality.chunks;
    const size_t end = std::min(formats.size(), first + per_pass);
    for (size_t i = first; i < end; ++i)
      o.formats.push_back(bench::SweepSpec{}.format_spec(formats[i]));
    c.progress.step("quality", fmt::format("{}: formats {} to {} of {} against fp16", model,
                                           first + 1, end, formats.size()));
    const auto r = quality::evaluate(weights, tokens.ids, o);
    bench::store_quality(c.st, record, tokens, r, c.opt.command + " (quality of " + model + ")");
    c.out.scored_now += int(end - first);
  }
}

// Scores the model's formats not scored yet; false when the budget stopped it.
bool quality_model(Call& c, const std::string& model, int64_t params) {
  std::vector<std::string> formats;
  for (const auto& [m, f] : c.out.status.quality_todo)
    if (m == model) formats.push_back(f);
  if (formats.empty()) return true;
  const auto per_format = c.budget.expected(Budget::Kind::Quality, model, params);
  if (!c.budget.fits(per_format ? std::optional(*per_format * double(formats.size())) : per_format))
    return stop(c, "the quality of " + model);
  const double t0 = c.budget.now();
  try {
    score(c, model, formats);
  } catch (const std::exception& e) {
    c.out.quality_errors.push_back(fmt::format("{}: {}", model, e.what()));
    c.progress.warning(fmt::format("study: quality of {} failed: {}", model, e.what()));
  }
  c.budget.took(Budget::Kind::Quality, model, params,
                (c.budget.now() - t0) / double(formats.size()));
  return true;
}

void evict(Call& c, const std::string& model) {
  if (!c.opt.evict_synthetic || !model::is_synthetic_spec(model)) return;
  const fs::path dir = model::cache_root() / "synthetic" /
                       model::synthetic_cache_name(model::parse_synthetic_spec(model));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec)
    c.progress.warning(fmt::format("study: cannot remove {}: {}", dir.string(), ec.message()));
}

// Time the remaining work would take at this call's pace (nullopt when nothing was timed).
std::optional<double> remaining_seconds(const Call& c) {
  using Kind = Budget::Kind;
  std::optional<double> total;
  std::set<std::string> started;
  for (const auto& t : c.out.status.todo) {
    if (started.insert(t.model).second)
      total = sum(total, c.budget.expected(Kind::ModelStart, t.model, model_params(t.model)));
    total = sum(total, c.budget.expected_config(t));
  }
  for (const auto& [m, f] : c.out.status.quality_todo)
    total = sum(total, c.budget.expected(Kind::Quality, m, model_params(m)));
  return total;
}

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

RunOutcome run_study(const StudyFile& study, store::Store& st, bench::ProgressSink& progress,
                     const RunOptions& opt) {
  // Kept free at the end: the last sweep's idle re-check, the quality and report outputs.
  const double reserve = study.sweep.protocol.idle_seconds + 15;
  Call c{study,
         st,
         progress,
         opt,
         Budget(opt.budget_s, reserve, opt.clock ? opt.clock : steady_seconds),
         {}};
  const double t0 = c.budget.now();
  if (import_published(study, st))
    progress.step("published", fmt::format("imported {}", study.published_csv));
  c.out.status = study_status(study, st);
  for (const auto& model : study.models()) {
    const int64_t params = model_params(model);
    if (study.metered(model) && !sweep_model(c, model, params)) break;
    if (study.quality.enabled && !quality_model(c, model, params)) break;
    evict(c, model);
  }
  c.out.status = study_status(study, st);
  c.out.remaining_s = remaining_seconds(c);
  c.out.seconds = c.budget.now() - t0;
  return c.out;
}

}  // namespace eco::study
