// `ecocompute generate`: greedy generation from token ids on any engine, with prefill and
// decode timing.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "common/error.h"
#include "engine/generate.h"
#include "model/resolve.h"
#include "model/weights.h"

namespace {

struct GenerateArgs {
  std::string model;
  std::vector<std::string> prompt_ids;
  int batch = 0;  // 0: not given
  int max_new_tokens = 32;
  std::string device = "auto";
  std::string format = "native";
  int max_context = 0;
  bool json = false;
  std::string int8_impl = "fused";
  float int8_threshold = -1.0f;  // < 0: the format's default (6 for int8, 0 for int8-pure)
};

// "1,2,3" -> {1, 2, 3}. Range against the vocabulary is checked by the engine.
std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  if (text.find_first_not_of(" \t") == std::string::npos)
    eco::fail("--prompt-ids is empty: give comma-separated token ids, e.g. --prompt-ids 1,2,3");
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    int32_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      eco::fail(
          "--prompt-ids '{}': '{}' is not a token id (write non-negative integers "
          "separated by commas)",
          text, item);
    if (v < 0) eco::fail("--prompt-ids '{}': token id {} is negative", text, v);
    ids.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

std::vector<std::vector<int32_t>> build_prompts(const GenerateArgs& a) {
  if (a.prompt_ids.empty())
    eco::fail("generate: --prompt-ids is required, e.g. --prompt-ids 1,2,3");
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : a.prompt_ids) prompts.push_back(parse_ids(p));
  if (prompts.size() == 1) {
    const int batch = a.batch == 0 ? 1 : a.batch;
    if (batch < 1) eco::fail("--batch must be at least 1 (got {})", batch);
    prompts.assign(size_t(batch), prompts.front());
  } else if (a.batch != 0 && a.batch != int(prompts.size())) {
    eco::fail(
        "--batch {} disagrees with the {} prompts given by --prompt-ids: drop --batch, or "
        "give one --prompt-ids to repeat it",
        a.batch, prompts.size());
  }
  return prompts;
}

void run_generate(const GenerateArgs& a) {
  namespace engine = eco::engine;
  const auto prompts = build_prompts(a);
  if (a.max_new_tokens < 1)
    eco::fail("--max-new-tokens must be at least 1 (got {})", a.max_new_tokens);
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());

  engine::EngineOptions opts;
  opts.device = engine::parse_device(a.device);
  opts.format = eco::quant::parse_format(a.format);
  if (a.int8_impl == "reference-bnb")
    opts.format.int8_impl = eco::quant::Int8Impl::ReferenceBnb;
  else if (a.int8_impl != "fused")
    eco::fail("--int8-impl '{}': use fused or reference-bnb", a.int8_impl);
  if (a.int8_threshold >= 0.0f) {
    if (opts.format.format != eco::quant::WeightFormat::Int8)
      eco::fail("--int8-threshold applies to --format int8 only (format is {})", a.format);
    opts.format.int8_threshold = a.int8_threshold;
  }
  opts.max_batch = int(prompts.size());
  // The last decode step feeds token max_new_tokens - 1 at position longest + max_new - 2.
  const int needed = int(longest) + a.max_new_tokens - 1;
  opts.max_context = a.max_context > 0 ? a.max_context : needed;
  if (needed > opts.max_context)
    eco::fail("--max-context {} is too short for a {}-token prompt and {} new tokens (needs {})",
              opts.max_context, longest, a.max_new_tokens, needed);

  const auto dir = eco::model::resolve_model(a.model);
  const auto weights = eco::model::load_model(dir);
  auto eng = engine::create_engine(weights, opts);
  const auto r = engine::generate(*eng, prompts, a.max_new_tokens);

  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["model_dir"] = dir.string();
    j["device"] = engine::device_name(eng->options().device);
    j["engine"] = eng->describe();
    j["format"] = eng->options().format.name();
    j["batch"] = prompts.size();
    j["prompts"] = prompts;
    j["tokens"] = r.tokens;
    j["prompt_tokens"] = r.prompt_tokens;
    j["decode_tokens"] = r.decode_tokens;
    j["prefill_ms"] = r.prefill_seconds * 1e3;
    j["decode_ms"] = r.decode_seconds * 1e3;
    j["prefill_tokens_per_s"] = r.prefill_tokens_per_second();
    j["decode_tokens_per_s"] = r.decode_tokens_per_second();
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("engine: {}\n", eng->describe());
  fmt::print("device: {}, format: {}, batch: {}\n", engine::device_name(eng->options().device),
             eng->options().format.name(), prompts.size());
  for (size_t i = 0; i < r.tokens.size(); ++i)
    fmt::print("sequence {}: {}\n", i, fmt::join(r.tokens[i], " "));
  fmt::print("prefill: {} prompt tokens in {:.3f} ms ({:.1f} tok/s)\n", r.prompt_tokens,
             r.prefill_seconds * 1e3, r.prefill_tokens_per_second());
  fmt::print("decode:  {} tokens ({} steps x {} sequences) in {:.3f} ms ({:.1f} tok/s)\n",
             r.decode_tokens, a.max_new_tokens - 1, prompts.size(), r.decode_seconds * 1e3,
             r.decode_tokens_per_second());
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<GenerateArgs>();
  sub.add_option("--model", args->model,
                 "Model directory, or synthetic:SHAPE (e.g. synthetic:tiny)")
      ->required();
  sub.add_option("--prompt-ids", args->prompt_ids,
                 "Comma-separated prompt token ids; repeat the flag for several prompts")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--batch", args->batch,
                 "Sequences: repeats a single prompt N times (default: number of prompts)");
  sub.add_option("--max-new-tokens", args->max_new_tokens, "Tokens to generate per sequence")
      ->default_val(32);
  sub.add_option("--device", args->device, "auto, cpu or cuda")->default_val("auto");
  sub.add_option("--format", args->format,
                 "Weight format: native, fp32, fp16, bf16, int8, int8-pure, nf4, nf4-dq")
      ->default_val("native");
  sub.add_option("--int8-impl", args->int8_impl,
                 "LLM.int8() implementation on CUDA: fused (outliers on the device) or "
                 "reference-bnb (bitsandbytes' control flow: host sync per layer)")
      ->default_val("fused");
  sub.add_option("--int8-threshold", args->int8_threshold,
                 "LLM.int8() outlier threshold (default 6; 0 = pure int8)");
  sub.add_option("--max-context", args->max_context,
                 "KV cache length per sequence (default: longest prompt + new tokens)");
  sub.add_flag("--json", args->json, "Print the result as JSON");
  sub.callback([args] { run_generate(*args); });
}

}  // namespace

ECO_COMMAND("generate", "Greedy generation from token ids, with prefill and decode timing", setup);
