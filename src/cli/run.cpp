// `ecocompute run`: the main job on its embedded default. A short sweep of a synthetic model
// (about 1.5 B parameters on a GPU, `tiny` on the CPU; fp16, int8, nf4 at batch 1 and 4, from a
// text prompt) through the bench/ protocol on
// the best device present, stored in a fresh SQLite study, printed as the bench table and
// written as a Markdown and a JSON report. Every part can be pointed elsewhere by its option.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "bench/prompt.h"
#include "bench/sweep.h"
#include "cli/command.h"
#include "common/error.h"
#include "common/version.h"
#include "engine/engine.h"
#include "model/config.h"
#include "model/resolve.h"
#include "model/tokenizer.h"
#include "report/html.h"
#include "store/export.h"
#include "store/output_guard.h"
#include "store/store.h"
#include "store/study_lock.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultPrompt =
    "The energy an LLM uses to answer depends on its weight format, its batch size and how "
    "long it runs.";
constexpr int kFallbackPromptLen = 32;  // a model without a tokenizer: seeded random ids

// The default model where energy is measured on a GPU: about 1.5 B parameters, enough work
// that the energy of each window stands well above the idle noise (the tiny model's does not).
constexpr const char* kGpuDefaultModel = "synthetic:qwen2-1.5b";
constexpr const char* kCpuDefaultModel = "synthetic:tiny";

struct RunArgs {
  std::string model;  // default: kGpuDefaultModel on CUDA, kCpuDefaultModel on the CPU
  std::string device = "auto";
  std::vector<std::string> formats{"fp16", "int8", "nf4"};
  std::vector<int> batches{1, 4};
  std::string prompt = kDefaultPrompt;
  std::string text_file;
  int prompt_len = 0;
  int gen_len = 32;
  int runs = 3, max_runs = 10, warmup = 1, max_reruns = 1;
  double idle = 2, stabilise_max = 5;
  std::string db = "ecocompute-study.db";
  std::string out = "ecocompute-report.md";
  std::string json;  // default: --out with the extension .json
  bool resume = false;
};

// A file we will write at the end: its folder must exist and be writable now, before any run.
void check_writable(const fs::path& file, const char* flag) {
  const fs::path folder = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    eco::fail("{} {}: the folder {} does not exist; create it or choose another path", flag,
              file.string(), folder.string());
  if (::access(folder.c_str(), W_OK) != 0)
    eco::fail("{} {}: the folder {} is not writable; choose another path", flag, file.string(),
              folder.string());
  if (fs::is_directory(file, ec))
    eco::fail("{} {}: is a directory; give a file path", flag, file.string());
}

// Without --resume, each run starts a fresh study: an existing ecocompute study at the path is
// replaced (a file that is not one is reported and left alone).
void replace_study(const fs::path& db) {
  std::error_code ec;
  if (!fs::exists(db, ec)) return;
  { auto check = eco::store::Store::open_read_only(db); }  // throws for a foreign/corrupt file
  // Held while the files go: a bench or run still writing this study is refused, not cut off.
  const auto lock = eco::store::StudyLock::acquire(db);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const fs::path p = db.string() + suffix;
    fs::remove(p, ec);
    if (ec)
      eco::fail(
          "--db {}: cannot remove the previous study's file {} ({}); remove it or use "
          "--resume",
          db.string(), p.string(), ec.message());
  }
}

std::string fmt_seconds(double s) {
  return fmt::format("{:g} s", s);
}

std::string md_escape(std::string s) {
  for (auto& c : s)
    if (c == '|' || c == '\n') c = ' ';
  return s;
}

// One line of the protocol's settings, in the words of docs/METHODOLOGY.md.
std::string markdown_protocol(const eco::bench::ProtocolOptions& p) {
  return fmt::format(
      "- Protocol: idle baseline {} (once), stabilisation up to {} (settled: successive decode "
      "J/token within {:g} %, temperature rising < {:g} C/min), {} warm-up run(s), {} to {} "
      "measured runs (until the 95 % CI is within {:g} % of the mean), gates CV of decode tok/s "
      "< {:g} % and of decode J/token < {:g} %, up to {} re-run round(s), {} windows of at "
      "least {} energy-counter updates for decode and {} for prefill, decode metered directly\n",
      fmt_seconds(p.idle_seconds), fmt_seconds(p.stabilise_max_s), 100 * p.stabilise_tolerance,
      p.stabilise_max_slope_c_per_min, p.warmup, p.runs, p.max_runs, 100 * p.ci_target,
      100 * p.max_cv_decode_tok_s, 100 * p.max_cv_decode_j_per_token, p.max_reruns,
      eco::bench::to_string(p.windows), p.min_counter_updates,
      eco::bench::prefill_min_counter_updates(p));
}

// Model, device, prompt, protocol and what ran.
std::string markdown_setup(eco::store::Store& st, const eco::bench::SweepSpec& spec,
                           const eco::bench::SweepResult& res, const nlohmann::json& model,
                           const nlohmann::json& prompt, const std::string& device,
                           const eco::store::Session& session, const std::string& json_path) {
  std::string md = "\n## Setup\n\n";
  md += fmt::format("- Model: {} ({}, {} parameters), directory {}\n", model.value("source", ""),
                    model.value("model_type", ""), model.value("parameters", int64_t(0)),
                    model.value("dir", ""));
  md += fmt::format("- Device: {}; formats: {}; batch sizes: {}\n", device,
                    fmt::join(spec.formats, ", "), fmt::join(spec.batches, ", "));
  if (prompt.value("kind", "") == "text")
    md += fmt::format("- Prompt: {} tokens of text from {}: \"{}\"\n", prompt["token_ids"].size(),
                      prompt.value("origin", ""), md_escape(prompt.value("text", "")));
  else
    md += fmt::format("- Prompt: seeded random token ids (seed {}), lengths {}\n",
                      prompt.value("seed", uint64_t(0)), fmt::join(spec.prompt_lens, ", "));
  md += fmt::format("- Generated tokens per sequence: {}\n", fmt::join(spec.gen_lens, ", "));
  md += markdown_protocol(spec.protocol);
  md += fmt::format("- Energy: {}\n", res.energy_note.empty() ? "measured (" + session.meter + ")"
                                                              : "not measured: " + res.energy_note);
  md += fmt::format("- Host: {}, {}, {}\n", session.hostname, session.os,
                    session.cpu.empty() ? "CPU unknown" : session.cpu);
  if (!session.gpu_name.empty())
    md += fmt::format("- GPU: {}, driver {}{}\n", session.gpu_name, session.gpu_driver,
                      std::isnan(session.gpu_power_limit_w)
                          ? std::string()
                          : fmt::format(", power limit {:g} W", session.gpu_power_limit_w));
  md += fmt::format(
      "- Configurations: {} ({} measured now, {} already complete, {} failed); gates: {} "
      "passed, {} passed after re-run, {} failed\n",
      res.configurations, res.done, res.skipped, res.failed, res.gates_passed,
      res.gates_passed_after_rerun, res.gates_failed);
  md += fmt::format(
      "- Study database: {} (every run, phase, power sample and protocol step; `ecocompute "
      "export --db {} --format csv --runs`)\n",
      st.path().string(), st.path().string());
  md += fmt::format("- Machine-readable report: {}\n", json_path);
  return md;
}

// Each configuration's engine, or why it failed.
std::string markdown_engines(eco::store::Store& st) {
  std::string md = "\n## Engines\n\n";
  const auto table = eco::store::export_table(st, eco::store::ExportTable::Configs);
  auto col = [&](const char* name) {
    for (size_t i = 0; i < table.columns.size(); ++i)
      if (table.columns[i] == name) return i;
    eco::fail("internal: export column '{}' missing", name);
  };
  auto text = [](const eco::store::Cell& c) {
    if (const auto* s = std::get_if<std::string>(&c)) return *s;
    if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
    return std::string();
  };
  for (const auto& r : table.rows) {
    const bool failed =
        text(r[col("status")]) == eco::store::to_string(eco::store::ConfigStatus::Failed);
    const std::string what = failed ? "FAILED: " + text(r[col("error")]) : text(r[col("engine")]);
    md += fmt::format("- {} batch {}: {}\n", text(r[col("format")]), text(r[col("batch")]),
                      md_escape(what));
  }
  return md;
}

std::string markdown_report(eco::store::Store& st, const eco::bench::SweepSpec& spec,
                            const eco::bench::SweepResult& res, const nlohmann::json& model,
                            const nlohmann::json& prompt, const std::string& device,
                            const eco::store::Session& session, const std::string& json_path) {
  std::string md = "# ecocompute report\n\n";
  md += fmt::format("ecocompute {} ({}), {}. Command: `{}`\n\n", eco::version(), eco::git_commit(),
                    session.started_at, session.command);
  md += "## Results\n\n";
  md += eco::store::render_summary(st);
  md +=
      "\nEach cell is the mean ± standard deviation over the measured runs of the configuration's "
      "last round (n). Energy is net of the idle baseline when one was measured; J/request and "
      "J/1k tokens are separate normalisations of the same energy.\n";

  md += markdown_setup(st, spec, res, model, prompt, device, session, json_path);
  md += markdown_engines(st);
  return md;
}

void write_file(const fs::path& path, const std::string& text, const char* flag) {
  std::ofstream f(path, std::ios::binary);
  if (!f) eco::fail("{} {}: cannot open the file for writing", flag, path.string());
  f << text;
  f.close();
  if (!f) eco::fail("{} {}: writing the report failed", flag, path.string());
}

bool runs_on_gpu(const std::string& device) {
  const auto d = eco::engine::parse_device(device);
  return d == eco::engine::DeviceKind::Cuda ||
         (d == eco::engine::DeviceKind::Auto && eco::engine::cuda_available());
}

// The protocol of the main job: short on the CPU (the reference engine, rarely metered); on a
// GPU the study defaults (update-aligned windows: decode 10 counter updates), trimmed to finish
// within two minutes: a 2 s idle baseline (an aligned window: no counter quantisation at its
// ends, unlike the 5 s plain one it replaces), at most 10 s of stabilisation, 5 to 8 measured
// runs, prefill windows of 3 updates (the table reports decode; a 32-token request's prefill is
// a few percent of its energy).
void set_protocol(eco::bench::ProtocolOptions& p, const RunArgs& a, const CLI::App& sub, bool gpu) {
  auto given = [&](const char* name) { return sub.count(name) > 0; };
  p.idle_seconds = a.idle;
  if (gpu) p.prefill_counter_updates = 3;
  p.stabilise_max_s = given("--stabilise-max") ? a.stabilise_max : gpu ? 10 : a.stabilise_max;
  p.warmup = a.warmup;
  p.runs = given("--runs") ? a.runs : gpu ? 5 : a.runs;
  p.max_runs = std::max(p.runs, given("--max-runs") ? a.max_runs : gpu ? 8 : a.max_runs);
  p.max_reruns = a.max_reruns;
}

struct MainJob {
  eco::bench::SweepSpec spec;
  std::string model;
  fs::path dir;
  std::string prompt_note;
};

MainJob plan_main_job(const RunArgs& a, const CLI::App& sub) {
  using namespace eco;
  auto given = [&](const char* name) { return sub.count(name) > 0; };
  MainJob job;
  const bool gpu = runs_on_gpu(a.device);
  job.model = !a.model.empty() ? a.model : gpu ? kGpuDefaultModel : kCpuDefaultModel;
  auto& spec = job.spec;
  spec.models = {job.model};
  spec.formats = a.formats;
  spec.batches = a.batches;
  spec.gen_lens = {a.gen_len};
  spec.device = a.device;
  spec.resume = a.resume;
  set_protocol(spec.protocol, a, sub, gpu);
  // The prompt: text through the model's tokenizer unless --prompt-len asks for random ids; the
  // default text falls back to random ids for a model directory without a tokenizer.
  job.dir = model::resolve_model(job.model);
  const bool synthetic = model::is_synthetic_spec(job.model);
  if (given("--prompt-len")) {
    spec.prompt_lens = {a.prompt_len};
  } else if (given("--text")) {
    spec.prompt_text = bench::read_text_prompt(a.text_file);
  } else if (given("--prompt") || synthetic || model::has_tokenizer(job.dir)) {
    spec.prompt_text = bench::TextPrompt{a.prompt, "--prompt"};
  } else {
    spec.prompt_lens = {kFallbackPromptLen};
    job.prompt_note = fmt::format(
        "{} has no tokenizer.json: the prompt is {} seeded random token ids instead of the "
        "default text",
        job.dir.string(), kFallbackPromptLen);
  }
  const auto& p = spec.protocol;
  spec.command = fmt::format(
      "ecocompute run --model {} --device {} --format {} --batch {} {} --gen-len {} --runs {} "
      "--warmup {} --idle {:g} --stabilise-max {:g} --max-reruns {} --db {}{}",
      job.model, a.device, fmt::join(a.formats, ","), fmt::join(a.batches, ","),
      given("--prompt-len") ? fmt::format("--prompt-len {}", a.prompt_len)
      : given("--text")     ? "--text " + a.text_file
      : spec.prompt_text    ? std::string("--prompt (see the report)")
                            : fmt::format("--prompt-len {}", kFallbackPromptLen),
      a.gen_len, p.runs, p.warmup, p.idle_seconds, p.stabilise_max_s, p.max_reruns, a.db,
      a.resume ? " --resume" : "");
  spec.normalize();
  spec.validate();
  return job;
}

nlohmann::json json_report(eco::store::Store& st, const MainJob& job,
                           const eco::bench::SweepResult& result, const nlohmann::json& model_j,
                           const nlohmann::json& prompt_j, const std::string& device,
                           const eco::store::Session& session) {
  using namespace eco;
  nlohmann::json report;
  report["tool"] = "ecocompute run";
  report["version"] = eco::version();
  report["commit"] = eco::git_commit();
  report["generated_at"] = session.started_at;
  report["command"] = session.command;
  report["study"] = st.path().string();
  report["model"] = model_j;
  report["device"] = device;
  report["formats"] = job.spec.formats;
  report["batches"] = job.spec.batches;
  report["gen_len"] = job.spec.gen_lens.front();
  report["prompt"] = prompt_j;
  report["protocol"] = job.spec.protocol.to_json();
  report["host"] = {{"hostname", session.hostname}, {"os", session.os}, {"cpu", session.cpu}};
  report["gpu"] = session.gpu_name.empty()
                      ? nlohmann::json(nullptr)
                      : nlohmann::json{{"name", session.gpu_name}, {"driver", session.gpu_driver}};
  report["energy_measured"] = result.energy_note.empty();
  report["energy_note"] =
      result.energy_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(result.energy_note);
  report["meter"] = session.meter;
  report["summary"] = {{"configurations", result.configurations},
                       {"measured", result.done},
                       {"already_complete", result.skipped},
                       {"failed", result.failed},
                       {"energy_faults", result.energy_faults},
                       {"gates_passed", result.gates_passed},
                       {"gates_passed_after_rerun", result.gates_passed_after_rerun},
                       {"gates_failed", result.gates_failed}};
  report["configurations"] = nlohmann::json::parse(store::render(
      store::export_table(st, store::ExportTable::Configs), store::ExportFormat::Json));
  return report;
}

void write_reports(eco::store::Store& st, const MainJob& job, const eco::bench::SweepResult& result,
                   const fs::path& md_path, const fs::path& json_path) {
  using namespace eco;
  const model::ModelConfig cfg = model::load_config(job.dir);
  const nlohmann::json model_j{{"source", job.model},
                               {"dir", job.dir.string()},
                               {"model_type", cfg.model_type},
                               {"parameters", cfg.parameter_count()}};
  std::string device(engine::device_name(engine::parse_device(job.spec.device)));
  nlohmann::json prompt_j = bench::seeded_prompt_record(job.spec.protocol.prompt_seed);
  const auto configs = st.configs();
  if (!configs.empty()) {
    device = configs.front().key.device;
    const auto pj = nlohmann::json::parse(configs.front().protocol_json, nullptr, false);
    if (pj.is_object() && pj.contains("prompt")) prompt_j = pj["prompt"];
  }
  const store::Session session = st.latest_session().value_or(store::Session{});
  write_file(
      md_path,
      markdown_report(st, job.spec, result, model_j, prompt_j, device, session, json_path.string()),
      "--out");
  const auto report = json_report(st, job, result, model_j, prompt_j, device, session);
  write_file(json_path, report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
             "--json");
}

void run_main_job(const RunArgs& a, const CLI::App& sub) {
  using namespace eco;
  const MainJob job = plan_main_job(a, sub);
  const fs::path md_path(a.out);
  fs::path json_path(a.json);
  if (json_path.empty()) json_path = fs::path(md_path).replace_extension(".json");
  if (json_path == md_path)
    fail("--json {}: the same path as --out; give the JSON report its own name",
         json_path.string());
  check_writable(md_path, "--out");
  check_writable(json_path, "--json");
  check_writable(a.db, "--db");

  store::refuse_output_over_database(md_path, a.db, "--out");
  store::refuse_output_over_database(json_path, a.db, "--json");
  if (!a.resume) replace_study(a.db);
  auto st = store::Store::open(a.db);
  if (!job.prompt_note.empty()) fmt::print(stderr, "run: note: {}\n", job.prompt_note);
  bench::TerminalProgress progress(stderr, bench::TerminalProgress::is_tty(stderr));
  const auto result = bench::run_sweep(job.spec, st, progress);
  fmt::print("{}", store::render_summary(st));
  std::fflush(stdout);
  write_reports(st, job, result, md_path, json_path);
  fmt::print(stderr, "run: study {}, reports {} and {}\n", st.path().string(), md_path.string(),
             json_path.string());
  // The interactive dashboard beside the Markdown report; a build without the front end notes it.
  const fs::path html_path = fs::path(md_path).replace_extension(".html");
  if (store::is_sqlite_file(html_path)) {
    fmt::print(stderr, "run: note: no HTML dashboard: {} is a database, left as it is\n",
               html_path.string());
  } else if (html_path != md_path && html_path != json_path) {
    try {
      report::write_html({st.path()}, html_path);
      fmt::print(stderr, "run: dashboard {}\n", html_path.string());
    } catch (const Error& e) {
      fmt::print(stderr, "run: note: no HTML dashboard: {}\n", e.what());
    }
  }
  if (result.failed > 0 || result.energy_faults > 0)
    fail(
        "run: {} of {} configurations failed and {} had failing energy readings (their errors "
        "are in the table and the report)",
        result.failed, result.configurations, result.energy_faults);
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<RunArgs>();
  sub.description(
      "Run the main job on its embedded default: a short sweep of a synthetic model (about "
      "1.5 B parameters on a GPU, the tiny one on the CPU; fp16, int8, nf4 at batch 1 and 4, "
      "from a text prompt) through the measurement protocol on the best device (CUDA when "
      "present, else CPU). Writes a fresh SQLite study "
      "(--db; an existing study there is replaced, --resume continues it instead), prints the "
      "table and writes a Markdown report (--out) and a JSON report (--json). Without power "
      "sensors, energy columns say 'not measured' with the reason.");
  sub.add_option("--model", a->model,
                 fmt::format("Model directory, or synthetic:SHAPE (default: {} on a GPU, {} on "
                             "the CPU)",
                             kGpuDefaultModel, kCpuDefaultModel));
  sub.add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  sub.add_option("--format", a->formats,
                 "Weight formats, comma-separated (fp16,bf16,int8,int8-pure,nf4,nf4-dq)")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--batch", a->batches, "Batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  auto* prompt =
      sub.add_option("--prompt", a->prompt,
                     "Prompt text (through the model's tokenizer; its tokens are the prompt)");
  auto* text = sub.add_option("--text", a->text_file, "File whose contents are the prompt text");
  auto* plen = sub.add_option("--prompt-len", a->prompt_len,
                              "Use seeded random prompt token ids of this length instead of text")
                   ->check(CLI::Range(1, 1 << 24));
  prompt->excludes(text)->excludes(plen);
  text->excludes(plen);
  sub.add_option("--gen-len", a->gen_len, "Generated tokens per sequence (>= 2)")
      ->capture_default_str();
  sub.add_option("--runs", a->runs,
                 "Measured runs per round, at least (default 3 on the CPU, 5 on a GPU)");
  sub.add_option("--max-runs", a->max_runs,
                 "Measured runs per round, at most, until the CI target (default 10 on the CPU, "
                 "8 on a GPU)");
  sub.add_option("--warmup", a->warmup, "Warm-up runs")->capture_default_str();
  sub.add_option("--idle", a->idle,
                 "Idle baseline seconds, with power sensors (an update-aligned window)")
      ->capture_default_str();
  sub.add_option("--stabilise-max", a->stabilise_max,
                 "Longest stabilisation per configuration, seconds (0 disables; default 5 on the "
                 "CPU, 10 on a GPU)");
  sub.add_option("--max-reruns", a->max_reruns, "Re-run rounds after a failed gate")
      ->capture_default_str();
  sub.add_option("--db", a->db, "Study database (SQLite); replaced unless --resume")
      ->capture_default_str();
  sub.add_flag("--resume", a->resume,
               "Keep the study at --db and continue it: completed configurations are skipped "
               "(an interrupted run finishes; a finished one is reported again)");
  sub.add_option("--out", a->out, "Markdown report")->capture_default_str();
  sub.add_option("--json", a->json, "JSON report (default: --out with the extension .json)");
  sub.callback([a, &sub] { run_main_job(*a, sub); });
}

}  // namespace

ECO_COMMAND("run", "Run the main job on its embedded default (short sweep of a synthetic model)",
            setup);
