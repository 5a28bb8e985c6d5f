// `ecocompute bench`: a sweep of models x formats x batch sizes x lengths, metered with the
// protocol of docs/METHODOLOGY.md, stored in an SQLite study file, printed as a table.
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/sweep.h"
#include "cli/command.h"
#include "common/error.h"
#include "store/export.h"

namespace {

struct BenchArgs {
  std::vector<std::string> models, formats{"fp16"};
  std::vector<int> batches{1}, prompt_lens{128}, gen_lens{128};
  std::string db, output = "md", device = "auto", sweep_file;
  std::string prompt, text_file;
  float int8_threshold = -1.0f;
  std::string int8_impl = "fused";
  eco::bench::ProtocolOptions protocol;
  double max_cv_tok_s = 1, max_cv_energy = 2, ci_target = 1;  // percent on the command line
  std::string windows = "aligned";
  bool resume = false, no_retry_failed = false;
};

// Flags given on the command line override the sweep file; lists the file leaves out take the
// flags' defaults.
void apply_lists(eco::bench::SweepSpec& spec, const BenchArgs& a, const CLI::App& sub) {
  using namespace eco;
  const bool file = !a.sweep_file.empty();
  auto given = [&](const char* name) { return sub.count(name) > 0; };
  if (!file || given("--model") || spec.models.empty()) spec.models = a.models;
  if (!file || given("--format") || spec.formats.empty()) spec.formats = a.formats;
  if (!file || given("--batch") || spec.batches.empty()) spec.batches = a.batches;
  if (given("--prompt")) {
    spec.prompt_text = bench::TextPrompt{a.prompt, "--prompt"};
  } else if (given("--text")) {
    spec.prompt_text = bench::read_text_prompt(a.text_file);
  } else if (!file || given("--prompt-len") || (spec.prompt_lens.empty() && !spec.prompt_text)) {
    spec.prompt_lens = a.prompt_lens;
    spec.prompt_text.reset();
  }
  if (!file || given("--gen-len") || spec.gen_lens.empty()) spec.gen_lens = a.gen_lens;
  if (!file || given("--device")) spec.device = a.device;
  if (given("--int8-threshold")) {
    if (!(a.int8_threshold >= 0))
      fail("--int8-threshold {}: give a threshold >= 0 (0 = pure int8; default 6)",
           a.int8_threshold);
    spec.int8_threshold = a.int8_threshold;
  }
  if (given("--int8-impl")) spec.int8_impl = bench::parse_int8_impl(a.int8_impl, "--int8-impl");
}

void apply_protocol(eco::bench::ProtocolOptions& p, const BenchArgs& a, const CLI::App& sub) {
  const bool file = !a.sweep_file.empty();
  auto take = [&](const char* flag, auto& field, auto value) {
    if (!file || sub.count(flag) > 0) field = value;
  };
  const auto& q = a.protocol;
  take("--runs", p.runs, q.runs);
  take("--max-runs", p.max_runs, q.max_runs);
  take("--warmup", p.warmup, q.warmup);
  take("--idle", p.idle_seconds, q.idle_seconds);
  take("--idle-recheck", p.idle_recheck_s, q.idle_recheck_s);
  take("--stabilise-max", p.stabilise_max_s, q.stabilise_max_s);
  take("--cooldown", p.cooldown_s, q.cooldown_s);
  take("--max-reruns", p.max_reruns, q.max_reruns);
  take("--min-counter-updates", p.min_counter_updates, q.min_counter_updates);
  take("--max-cv-tok-s", p.max_cv_decode_tok_s, a.max_cv_tok_s / 100);
  take("--max-cv-energy", p.max_cv_decode_j_per_token, a.max_cv_energy / 100);
  take("--ci-target", p.ci_target, a.ci_target / 100);
  if (!file || sub.count("--windows") > 0)
    p.windows =
        a.windows == "plain" ? eco::bench::WindowMode::Plain : eco::bench::WindowMode::Aligned;
  // Runs above the cap without a cap given raise the cap with them.
  if (sub.count("--max-runs") == 0 && p.max_runs < p.runs) p.max_runs = p.runs;
}

std::string command_line(const BenchArgs& a, const CLI::App& sub) {
  std::string prompt = fmt::format("--prompt-len {}", fmt::join(a.prompt_lens, ","));
  if (sub.count("--prompt"))
    prompt = fmt::format("--prompt '{}'", a.prompt.size() > 200
                                              ? a.prompt.substr(0, 200) + "...(stored in full)"
                                              : a.prompt);
  else if (sub.count("--text"))
    prompt = fmt::format("--text {}", a.text_file);
  std::string extra;
  if (sub.count("--int8-threshold")) extra += fmt::format(" --int8-threshold {}", a.int8_threshold);
  if (sub.count("--int8-impl")) extra += fmt::format(" --int8-impl {}", a.int8_impl);
  if (!a.sweep_file.empty()) extra += " --sweep " + a.sweep_file;
  if (a.resume) extra += " --resume";
  if (a.no_retry_failed) extra += " --no-retry-failed";
  return fmt::format(
      "ecocompute bench --model {} --format {} --batch {} {} --gen-len {} --runs {} --warmup {} "
      "--db {}{}",
      fmt::join(a.models, ","), fmt::join(a.formats, ","), fmt::join(a.batches, ","), prompt,
      fmt::join(a.gen_lens, ","), a.protocol.runs, a.protocol.warmup, a.db, extra);
}

void run_bench(const BenchArgs& a, const CLI::App& sub) {
  using namespace eco;
  bench::SweepSpec spec;
  if (!a.sweep_file.empty()) spec = bench::load_sweep_file(a.sweep_file);
  apply_lists(spec, a, sub);
  apply_protocol(spec.protocol, a, sub);
  spec.resume = a.resume;
  spec.retry_failed = !a.no_retry_failed;
  spec.command = command_line(a, sub);
  spec.normalize();
  spec.validate();
  const auto out_format = store::parse_export_format(a.output);

  // The database is opened (and checked) before anything is measured.
  auto st = store::Store::open(a.db);
  bench::TerminalProgress progress(stderr, bench::TerminalProgress::is_tty(stderr));
  const auto result = bench::run_sweep(spec, st, progress);

  if (out_format == store::ExportFormat::Md)
    fmt::print("{}", store::render_summary(st));
  else
    fmt::print("{}",
               store::render(store::export_table(st, store::ExportTable::Configs), out_format));
  std::fflush(stdout);
  fmt::print(stderr,
             "bench: {} configurations: {} measured now, {} already complete, {} failed; gates: "
             "{} passed, {} passed after re-run, {} failed. Results: {}\n",
             result.configurations, result.done, result.skipped, result.failed, result.gates_passed,
             result.gates_passed_after_rerun, result.gates_failed, a.db);
  if (result.energy_faults > 0)
    fail(
        "bench: the energy readings failed in {} configuration(s) (the GPU may be lost; see "
        "their gate and runs flagged energy-fault); their energy figures are not valid",
        result.energy_faults);
  if (result.failed > 0)
    fail("bench: {} of {} configurations failed (errors in the table; --resume retries them)",
         result.failed, result.configurations);
}

void add_options(CLI::App& sub, BenchArgs& a) {
  auto& p = a.protocol;
  sub.add_option("--runs", p.runs, "Measured runs per round, at least (more until the CI target)")
      ->capture_default_str();
  sub.add_option("--max-runs", p.max_runs, "Measured runs per round, at most")
      ->capture_default_str();
  sub.add_option("--ci-target", a.ci_target,
                 "Stop adding runs when the 95 % CI half-width of decode J/token and tok/s is "
                 "within this percentage of the mean")
      ->capture_default_str();
  sub.add_option("--warmup", p.warmup, "Warm-up runs per round (stored, excluded from statistics)")
      ->capture_default_str();
  sub.add_option("--idle", p.idle_seconds, "Idle baseline seconds (once per study)")
      ->capture_default_str();
  sub.add_option("--idle-recheck", p.idle_recheck_s,
                 "Re-check the idle baseline after this many seconds (and at the end; 0 = end "
                 "only); the drift is recorded")
      ->capture_default_str();
  sub.add_option("--stabilise-max", p.stabilise_max_s,
                 "Longest stabilisation per configuration, seconds (0 disables)")
      ->capture_default_str();
  sub.add_option("--cooldown", p.cooldown_s, "Pause between configurations, seconds")
      ->capture_default_str();
  sub.add_option("--max-cv-tok-s", a.max_cv_tok_s, "Gate: max CV of decode tok/s, percent")
      ->capture_default_str();
  sub.add_option("--max-cv-energy", a.max_cv_energy, "Gate: max CV of decode J/token, percent")
      ->capture_default_str();
  sub.add_option("--max-reruns", p.max_reruns, "Re-run rounds after a failed gate")
      ->capture_default_str();
  sub.add_option("--min-counter-updates", p.min_counter_updates,
                 "Minimum window: energy-counter updates each window must span (short phases are "
                 "repeated inside it)")
      ->capture_default_str();
  sub.add_option("--windows", a.windows,
                 "aligned: windows start on an energy-counter update and remove the tail after "
                 "the work; plain: counter read at the work's boundaries")
      ->check(CLI::IsMember({"aligned", "plain"}))
      ->capture_default_str();
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<BenchArgs>();
  sub.add_option("--model", a->models,
                 "Model directories or synthetic:SHAPE[?seed=S&outliers=K:X], comma-separated")
      ->delimiter(',');
  sub.add_option("--format", a->formats,
                 "Weight formats, comma-separated (fp16,int8,int8-pure,nf4,...)")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--batch", a->batches, "Batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  auto* plen = sub.add_option("--prompt-len", a->prompt_lens,
                              "Prompt lengths in tokens, comma-separated (seeded random ids)")
                   ->delimiter(',')
                   ->check(CLI::Range(1, 1 << 24))
                   ->capture_default_str();
  auto* prompt = sub.add_option("--prompt", a->prompt,
                                "Prompt text: every sequence's prompt is its tokens under each "
                                "model's tokenizer (replaces --prompt-len)");
  auto* text = sub.add_option("--text", a->text_file, "File whose contents are the prompt text");
  prompt->excludes(plen)->excludes(text);
  text->excludes(plen);
  sub.add_option("--gen-len", a->gen_lens, "Generated tokens per sequence (>= 2), comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(2, 1 << 24))
      ->capture_default_str();
  sub.add_option("--int8-threshold", a->int8_threshold,
                 "LLM.int8() outlier threshold of the int8 format (default 6; 0 = pure int8)");
  sub.add_option("--int8-impl", a->int8_impl,
                 "LLM.int8() implementation on CUDA: fused (outliers on the device) or "
                 "reference-bnb (bitsandbytes' control flow: host sync per layer)")
      ->capture_default_str();
  add_options(sub, *a);
  sub.add_option("--db", a->db, "Study database (SQLite file; created when absent)")->required();
  sub.add_option("-o,--output", a->output, "Table on stdout: md, csv, json or jsonl")
      ->capture_default_str();
  sub.add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  sub.add_option("--sweep", a->sweep_file,
                 "Sweep file, .toml or .json (docs/METHODOLOGY.md); "
                 "flags override it");
  sub.add_flag("--resume", a->resume,
               "Continue a sweep: done configurations are kept, a half-done one is redone, "
               "failed ones are measured again");
  sub.add_flag("--no-retry-failed", a->no_retry_failed,
               "With --resume: keep failed configurations as they are instead of retrying them");
  sub.callback([a, &sub] {
    if (a->models.empty() && a->sweep_file.empty())
      eco::fail("bench: give --model (or a --sweep file)");
    run_bench(*a, sub);
  });
}

}  // namespace

ECO_COMMAND("bench", "Measure a sweep of models x formats x batch sizes with the energy protocol",
            setup);
