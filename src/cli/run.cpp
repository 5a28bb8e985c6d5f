// `ecocompute run`: the main job on its embedded default. For now: load the synthetic `tiny`
// model on the best device, generate from a fixed prompt at batch 1 and 4, print a table and
// write the same as a JSON report. Later issues grow this into the full benchmark + report.
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/version.h"
#include "engine/generate.h"
#include "model/resolve.h"
#include "model/weights.h"

namespace {

struct RunArgs {
  std::string model = "synthetic:tiny";
  std::string device = "auto";
  std::string format = "native";
  std::string out = "ecocompute-report.json";
  int max_new_tokens = 32;
};

// A fixed prompt of token ids, valid for any vocabulary of at least 64 tokens.
const std::vector<int32_t> kPrompt = {1, 15, 42, 7, 33, 60, 2, 18, 25, 9, 50, 11};
const int kBatches[] = {1, 4};

void run_main_job(const RunArgs& a) {
  namespace engine = eco::engine;
  const auto dir = eco::model::resolve_model(a.model);
  const auto weights = eco::model::load_model(dir);
  if (weights.config.vocab_size < 64)
    eco::fail("run: model {} has a vocabulary of {} tokens, the fixed prompt needs at least 64",
              a.model, weights.config.vocab_size);

  engine::EngineOptions opts;
  opts.device = engine::parse_device(a.device);
  opts.format = eco::quant::parse_format(a.format);
  opts.max_batch = 4;
  opts.max_context = int(kPrompt.size()) + a.max_new_tokens;
  auto eng = engine::create_engine(weights, opts);

  nlohmann::json report;
  report["tool"] = "ecocompute run";
  report["version"] = ECO_VERSION;
  report["commit"] = ECO_GIT_COMMIT;
  report["model"] = a.model;
  report["model_dir"] = dir.string();
  report["model_type"] = weights.config.model_type;
  report["parameters"] = weights.config.parameter_count();
  report["device"] = engine::device_name(eng->options().device);
  report["engine"] = eng->describe();
  report["format"] = eng->options().format.name();
  report["prompt_ids"] = kPrompt;
  report["max_new_tokens"] = a.max_new_tokens;
  report["runs"] = nlohmann::json::array();

  fmt::print("model: {} ({}, {} parameters) from {}\n", a.model, weights.config.model_type,
             weights.config.parameter_count(), dir.string());
  fmt::print("engine: {}\n\n", eng->describe());
  fmt::print("{:<8} {:<8} {:>6} {:>12} {:>16} {:>12} {:>16}\n", "device", "format", "batch",
             "prefill ms", "prefill tok/s", "decode ms", "decode tok/s");
  std::vector<int32_t> batch1_tokens;
  for (int batch : kBatches) {
    const std::vector<std::vector<int32_t>> prompts(size_t(batch), kPrompt);
    const auto r = engine::generate(*eng, prompts, a.max_new_tokens);
    if (batch == 1) batch1_tokens = r.tokens[0];
    fmt::print("{:<8} {:<8} {:>6} {:>12.3f} {:>16.1f} {:>12.3f} {:>16.1f}\n",
               engine::device_name(eng->options().device), eng->options().format.name(), batch,
               r.prefill_seconds * 1e3, r.prefill_tokens_per_second(), r.decode_seconds * 1e3,
               r.decode_tokens_per_second());
    report["runs"].push_back({{"batch", batch},
                              {"prompt_tokens", r.prompt_tokens},
                              {"decode_tokens", r.decode_tokens},
                              {"prefill_ms", r.prefill_seconds * 1e3},
                              {"prefill_tokens_per_s", r.prefill_tokens_per_second()},
                              {"decode_ms", r.decode_seconds * 1e3},
                              {"decode_tokens_per_s", r.decode_tokens_per_second()},
                              {"tokens", r.tokens}});
  }
  fmt::print("\nbatch 1 tokens: {}\n", fmt::join(batch1_tokens, " "));

  const std::filesystem::path out(a.out);
  std::ofstream f(out);
  if (!f) eco::fail("--out {}: cannot open the file for writing", out.string());
  f << report.dump(2) << '\n';
  f.close();
  if (!f) eco::fail("--out {}: writing the report failed", out.string());
  fmt::print("report: {}\n", out.string());
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<RunArgs>();
  sub.add_option("--model", args->model, "Model directory, or synthetic:SHAPE")
      ->default_val("synthetic:tiny");
  sub.add_option("--device", args->device, "auto, cpu or cuda")->default_val("auto");
  sub.add_option("--format", args->format, "Weight format (see generate --help)")
      ->default_val("native");
  sub.add_option("--max-new-tokens", args->max_new_tokens, "Tokens to generate per sequence")
      ->default_val(32);
  sub.add_option("--out", args->out, "JSON report path")->default_val("ecocompute-report.json");
  sub.callback([args] { run_main_job(*args); });
}

}  // namespace

ECO_COMMAND("run", "Run the main job on its embedded default (synthetic tiny model)", setup);
