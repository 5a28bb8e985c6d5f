// `ecocompute bench`: a sweep of models x formats x batch sizes x lengths, metered with the
// protocol of docs/METHODOLOGY.md, stored in an SQLite study file, printed as a table.
#include <csignal>
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include "bench/sweep.h"
#include "cli/command.h"
#include "common/error.h"
#include "store/export.h"

namespace {

struct BenchArgs {
  std::string models, formats = "fp16", batches = "1", prompt_lens = "128", gen_lens = "128";
  std::string db, output = "md", device = "auto", sweep_file;
  std::string prompt, text_file;
  float int8_threshold = -1.0f;
  std::string int8_impl = "fused";
  int runs = 10, warmup = 3;
  double idle = 10, stabilise_max = 60, cooldown = 0;
  double max_cv_tok_s = 2, max_cv_energy = 3;  // percent on the command line
  int max_reruns = 2;
  int min_counter_updates = 10;
  bool resume = false;
  std::string command;
};

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int> split_ints(const std::string& s, const char* flag) {
  std::vector<int> out;
  for (const auto& item : split(s)) {
    try {
      size_t used = 0;
      out.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      eco::fail("{}: '{}' is not an integer (give a comma-separated list, e.g. 1,8,64)", flag,
                item);
    }
  }
  return out;
}

void run_bench(const BenchArgs& a, const CLI::App& sub) {
  using namespace eco;
  bench::SweepSpec spec;
  if (!a.sweep_file.empty()) spec = bench::load_sweep_file(a.sweep_file);
  // Flags given on the command line override the sweep file; lists the file leaves out take the
  // flags' defaults.
  auto given = [&](const char* name) { return sub.count(name) > 0; };
  if (a.sweep_file.empty() || given("--model") || spec.models.empty())
    spec.models = split(a.models);
  if (a.sweep_file.empty() || given("--format") || spec.formats.empty())
    spec.formats = split(a.formats);
  if (a.sweep_file.empty() || given("--batch") || spec.batches.empty())
    spec.batches = split_ints(a.batches, "--batch");
  if (given("--prompt") + given("--text") + given("--prompt-len") > 1)
    eco::fail(
        "bench: give one of --prompt, --text and --prompt-len (a text prompt's length is its "
        "token count)");
  if (given("--prompt")) {
    spec.prompt_text = bench::TextPrompt{a.prompt, "--prompt"};
  } else if (given("--text")) {
    spec.prompt_text = bench::read_text_prompt(a.text_file);
  } else if (a.sweep_file.empty() || given("--prompt-len") ||
             (spec.prompt_lens.empty() && !spec.prompt_text)) {
    spec.prompt_lens = split_ints(a.prompt_lens, "--prompt-len");
    spec.prompt_text.reset();
  }
  if (given("--int8-threshold")) {
    if (!(a.int8_threshold >= 0))
      eco::fail("--int8-threshold {}: give a threshold >= 0 (0 = pure int8; default 6)",
                a.int8_threshold);
    spec.int8_threshold = a.int8_threshold;
  }
  if (given("--int8-impl")) spec.int8_impl = bench::parse_int8_impl(a.int8_impl, "--int8-impl");
  if (a.sweep_file.empty() || given("--gen-len") || spec.gen_lens.empty())
    spec.gen_lens = split_ints(a.gen_lens, "--gen-len");
  if (a.sweep_file.empty() || given("--device")) spec.device = a.device;
  auto& p = spec.protocol;
  if (a.sweep_file.empty() || given("--runs")) p.runs = a.runs;
  if (a.sweep_file.empty() || given("--warmup")) p.warmup = a.warmup;
  if (a.sweep_file.empty() || given("--idle")) p.idle_seconds = a.idle;
  if (a.sweep_file.empty() || given("--stabilise-max")) p.stabilise_max_s = a.stabilise_max;
  if (a.sweep_file.empty() || given("--cooldown")) p.cooldown_s = a.cooldown;
  if (a.sweep_file.empty() || given("--max-cv-tok-s")) p.max_cv_decode_tok_s = a.max_cv_tok_s / 100;
  if (a.sweep_file.empty() || given("--max-cv-energy"))
    p.max_cv_decode_j_per_token = a.max_cv_energy / 100;
  if (a.sweep_file.empty() || given("--max-reruns")) p.max_reruns = a.max_reruns;
  if (a.sweep_file.empty() || given("--min-counter-updates"))
    p.min_counter_updates = a.min_counter_updates;
  spec.resume = a.resume;
  spec.command = a.command;
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
  fmt::print(stderr,
             "bench: {} configurations: {} measured now, {} already complete, {} failed; gates: "
             "{} passed, {} passed after re-run, {} failed. Results: {}\n",
             result.configurations, result.done, result.skipped, result.failed, result.gates_passed,
             result.gates_passed_after_rerun, result.gates_failed, a.db);
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<BenchArgs>();
  sub.add_option("--model", a->models,
                 "Model directories or synthetic:SHAPE[?seed=S&outliers=K:X], comma-separated");
  sub.add_option("--format", a->formats,
                 "Weight formats, comma-separated (fp16,int8,int8-pure,nf4,...)")
      ->capture_default_str();
  sub.add_option("--batch", a->batches, "Batch sizes, comma-separated")->capture_default_str();
  sub.add_option("--prompt-len", a->prompt_lens,
                 "Prompt lengths in tokens, comma-separated (seeded random token ids)")
      ->capture_default_str();
  sub.add_option("--prompt", a->prompt,
                 "Prompt text: every sequence's prompt is its tokens under each model's "
                 "tokenizer (the prompt length is their count; replaces --prompt-len)");
  sub.add_option("--text", a->text_file, "File whose contents are the prompt text (as --prompt)");
  sub.add_option("--gen-len", a->gen_lens, "Generated tokens per sequence (>= 2), comma-separated")
      ->capture_default_str();
  sub.add_option("--int8-threshold", a->int8_threshold,
                 "LLM.int8() outlier threshold of the int8 format (default 6; 0 = pure int8)");
  sub.add_option("--int8-impl", a->int8_impl,
                 "LLM.int8() implementation on CUDA: fused (outliers on the device) or "
                 "reference-bnb (bitsandbytes' control flow: host sync per layer)")
      ->capture_default_str();
  sub.add_option("--runs", a->runs, "Measured runs per round")->capture_default_str();
  sub.add_option("--warmup", a->warmup, "Warm-up runs (stored, excluded from statistics)")
      ->capture_default_str();
  sub.add_option("--idle", a->idle, "Idle baseline seconds (before each model)")
      ->capture_default_str();
  sub.add_option("--stabilise-max", a->stabilise_max,
                 "Longest thermal stabilisation, seconds (0 disables)")
      ->capture_default_str();
  sub.add_option("--cooldown", a->cooldown, "Pause between configurations, seconds")
      ->capture_default_str();
  sub.add_option("--max-cv-tok-s", a->max_cv_tok_s, "Gate: max CV of decode tok/s, percent")
      ->capture_default_str();
  sub.add_option("--max-cv-energy", a->max_cv_energy, "Gate: max CV of decode J/token, percent")
      ->capture_default_str();
  sub.add_option("--max-reruns", a->max_reruns, "Re-run rounds after a failed gate")
      ->capture_default_str();
  sub.add_option("--min-counter-updates", a->min_counter_updates,
                 "Minimum window: energy-counter updates each window must span (short runs are "
                 "repeated inside it; more updates, less quantization noise, longer runs)")
      ->capture_default_str();
  sub.add_option("--db", a->db, "Study database (SQLite file; created when absent)")->required();
  sub.add_option("-o,--output", a->output, "Table on stdout: md, csv, json or jsonl")
      ->capture_default_str();
  sub.add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  sub.add_option("--sweep", a->sweep_file,
                 "JSON sweep file (docs/METHODOLOGY.md); flags override it");
  sub.add_flag("--resume", a->resume,
               "Continue an interrupted sweep: completed configurations are skipped, a half-done "
               "one is redone");
  sub.callback([a, &sub] {
    if (a->models.empty() && a->sweep_file.empty())
      eco::fail("bench: give --model (or a --sweep file)");
    std::string prompt = fmt::format("--prompt-len {}", a->prompt_lens);
    if (sub.count("--prompt"))
      prompt = fmt::format("--prompt '{}'", a->prompt.size() > 200
                                                ? a->prompt.substr(0, 200) + "...(stored in full)"
                                                : a->prompt);
    else if (sub.count("--text"))
      prompt = fmt::format("--text {}", a->text_file);
    std::string int8;
    if (sub.count("--int8-threshold"))
      int8 += fmt::format(" --int8-threshold {}", a->int8_threshold);
    if (sub.count("--int8-impl")) int8 += fmt::format(" --int8-impl {}", a->int8_impl);
    a->command = fmt::format(
        "ecocompute bench --model {} --format {}{} --batch {} {} --gen-len {} --runs {} "
        "--warmup {} --db {}{}{}",
        a->models, a->formats, int8, a->batches, prompt, a->gen_lens, a->runs, a->warmup, a->db,
        a->sweep_file.empty() ? "" : " --sweep " + a->sweep_file, a->resume ? " --resume" : "");
    run_bench(*a, sub);
  });
}

}  // namespace

ECO_COMMAND("bench", "Measure a sweep of models x formats x batch sizes with the energy protocol",
            setup);
