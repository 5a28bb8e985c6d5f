// `ecocompute generate`: greedy generation from token ids or text on any engine, with prefill
// and decode timing; the new tokens are also printed as text when the model has a tokenizer.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "bench/prompt.h"
#include "cli/command.h"
#include "common/error.h"
#include "engine/generate.h"
#include "model/resolve.h"
#include "model/weights.h"

namespace {

struct GenerateArgs {
  std::string model;
  std::vector<std::string> prompt_ids;
  std::vector<std::string> prompt_texts;  // --prompt
  std::vector<std::string> text_files;    // --text
  std::optional<int> batch;               // absent: the number of prompts
  int max_new_tokens = 32;
  std::string device = "auto";
  std::string format = "native";
  std::optional<int> max_context;  // absent: longest prompt + new tokens
  bool json = false;
  std::string int8_impl = "fused";
  std::optional<double> int8_threshold;  // absent: the format's default (6; 0 for int8-pure)
};

// Sequences in one batch: far above what any engine runs, low enough that the prompt copies and
// the KV cache of a small model stay affordable.
constexpr int kMaxBatch = 65536;

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

// Which of --prompt-ids, --prompt and --text was given (exactly one kind).
void check_prompt_kinds(const GenerateArgs& a) {
  const int kinds = !a.prompt_ids.empty() + !a.prompt_texts.empty() + !a.text_files.empty();
  if (kinds == 0)
    eco::fail("generate: give a prompt: --prompt \"text\", --text FILE or --prompt-ids 1,2,3");
  if (kinds > 1)
    eco::fail(
        "generate: give the prompts one way: --prompt, --text or --prompt-ids (each may be "
        "repeated for several sequences)");
}

// Token ids per sequence from the flags; `tok` is needed for --prompt and --text.
std::vector<std::vector<int32_t>> build_prompts(const GenerateArgs& a,
                                                const eco::model::Tokenizer* tok, int vocab,
                                                std::vector<std::string>& origins) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : a.prompt_ids) prompts.push_back(parse_ids(p));
  std::vector<eco::bench::TextPrompt> texts;
  for (const auto& t : a.prompt_texts) texts.push_back({t, "--prompt"});
  for (const auto& f : a.text_files) texts.push_back(eco::bench::read_text_prompt(f));
  for (const auto& t : texts) {
    if (t.text.empty()) eco::fail("{}: the prompt is empty; give some text", t.origin);
    prompts.push_back(eco::bench::encode_prompt(*tok, t, vocab, a.model));
    origins.push_back(t.origin);
  }
  if (prompts.size() == 1) {
    prompts.assign(size_t(a.batch.value_or(1)), prompts.front());
  } else if (a.batch && *a.batch != int(prompts.size())) {
    eco::fail(
        "--batch {} disagrees with the {} prompts given: drop --batch, or give one prompt to "
        "repeat it",
        *a.batch, prompts.size());
  }
  return prompts;
}

// Numeric options, checked before anything is loaded.
void check_numbers(const GenerateArgs& a) {
  if (a.max_new_tokens < 1)
    eco::fail("--max-new-tokens must be at least 1 (got {})", a.max_new_tokens);
  if (a.batch && (*a.batch < 1 || *a.batch > kMaxBatch))
    eco::fail("--batch must be from 1 to {} sequences (got {})", kMaxBatch, *a.batch);
  if (a.max_context && *a.max_context < 1)
    eco::fail("--max-context must be at least 1 token (got {})", *a.max_context);
  if (a.int8_threshold && !(std::isfinite(float(*a.int8_threshold)) && *a.int8_threshold >= 0.0))
    eco::fail(
        "--int8-threshold must be a number >= 0 (got {}): 0 turns the outlier decomposition "
        "off, the default is 6",
        *a.int8_threshold);
}

// The positions a generation uses must fit the model (max_position_embeddings) and the KV cache
// (--max-context); returns the cache length to allocate.
int context_for(const GenerateArgs& a, const eco::model::ModelConfig& config, size_t longest) {
  // The last decode step feeds token max_new_tokens - 1 at position longest + max_new - 2.
  const int64_t needed = int64_t(longest) + a.max_new_tokens - 1;
  // Dynamic NTK RoPE exists to run past max_position_embeddings: it rescales beyond it.
  const int64_t model_limit = config.rope.type == eco::model::RopeType::Dynamic
                                  ? std::max<int64_t>(needed, a.max_context.value_or(0))
                                  : config.max_position_embeddings;
  if (needed > model_limit)
    eco::fail(
        "a {}-token prompt and {} new tokens need {} positions, but the model was trained for "
        "{} (max_position_embeddings in config.json): shorten the prompt or lower "
        "--max-new-tokens",
        longest, a.max_new_tokens, needed, model_limit);
  if (!a.max_context) return int(needed);
  if (*a.max_context > model_limit)
    eco::fail("--max-context {} is longer than the model's {} positions (max_position_embeddings)",
              *a.max_context, model_limit);
  if (needed > *a.max_context)
    eco::fail("--max-context {} is too short for a {}-token prompt and {} new tokens (needs {})",
              *a.max_context, longest, a.max_new_tokens, needed);
  return *a.max_context;
}

eco::engine::EngineOptions engine_options(const GenerateArgs& a) {
  namespace engine = eco::engine;
  engine::EngineOptions opts;
  opts.device = engine::parse_device(a.device);
  opts.format = eco::quant::parse_format(a.format);
  if (a.int8_impl == "reference-bnb")
    opts.format.int8_impl = eco::quant::Int8Impl::ReferenceBnb;
  else if (a.int8_impl != "fused")
    eco::fail("--int8-impl '{}': use fused or reference-bnb", a.int8_impl);
  if (a.int8_threshold) {
    if (opts.format.format != eco::quant::WeightFormat::Int8)
      eco::fail("--int8-threshold applies to --format int8 only (format is {})", a.format);
    opts.format.int8_threshold = float(*a.int8_threshold);
  }
  return opts;
}

// Text prompts need the tokenizer; with token ids it only decodes the output, when there is one.
std::optional<eco::model::Tokenizer> generate_tokenizer(const GenerateArgs& a,
                                                        const std::filesystem::path& dir,
                                                        bool synthetic) {
  std::optional<eco::model::Tokenizer> tok;
  if (!a.prompt_ids.empty()) {
    if (synthetic || eco::model::has_tokenizer(dir)) try {
        tok = eco::bench::tokenizer_for_model(dir, synthetic);
      } catch (const eco::Error& e) {
        fmt::print(stderr, "generate: note: output not decoded to text: {}\n", e.what());
      }
  } else {
    tok = eco::bench::tokenizer_for_model(dir, synthetic);
  }
  return tok;
}

// What one generation ran and produced, for the two outputs.
struct GenerateOutcome {
  const GenerateArgs& args;
  const std::filesystem::path& dir;
  const eco::engine::Engine& engine;
  const std::vector<std::vector<int32_t>>& prompts;
  const std::vector<std::string>& origins;
  const eco::engine::GenerationResult& result;
  const eco::model::Tokenizer* tokenizer;  // null: output not decoded
};

void print_json(const GenerateOutcome& o) {
  const auto& r = o.result;
  nlohmann::json j;
  j["model"] = o.args.model;
  j["model_dir"] = o.dir.string();
  j["device"] = eco::engine::device_name(o.engine.options().device);
  j["engine"] = o.engine.describe();
  j["format"] = o.engine.options().format.name();
  j["batch"] = o.prompts.size();
  j["prompts"] = o.prompts;
  j["tokens"] = r.tokens;
  j["prompt_tokens"] = r.prompt_tokens;
  j["decode_tokens"] = r.decode_tokens;
  j["prefill_ms"] = r.prefill_seconds * 1e3;
  j["decode_ms"] = r.decode_seconds * 1e3;
  j["prefill_tokens_per_s"] = r.prefill_tokens_per_second();
  j["decode_tokens_per_s"] = r.decode_tokens_per_second();
  if (o.tokenizer) {
    j["tokenizer"] = o.tokenizer->description();
    j["texts"] = nlohmann::json::array();
    for (const auto& seq : r.tokens) j["texts"].push_back(o.tokenizer->decode(seq));
  }
  // Decoded text need not be valid UTF-8 (a model may emit partial characters).
  fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const GenerateOutcome& o) {
  const auto& r = o.result;
  const auto& prompts = o.prompts;
  fmt::print("engine: {}\n", o.engine.describe());
  fmt::print("device: {}, format: {}, batch: {}\n",
             eco::engine::device_name(o.engine.options().device), o.engine.options().format.name(),
             prompts.size());
  for (size_t i = 0; i < o.origins.size() && i < prompts.size(); ++i)
    fmt::print("prompt {}: {} tokens from {}\n", i, prompts[i].size(), o.origins[i]);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    fmt::print("sequence {}: {}\n", i, fmt::join(r.tokens[i], " "));
    if (o.tokenizer)
      fmt::print("text {}: {}\n", i, eco::bench::printable_text(o.tokenizer->decode(r.tokens[i])));
  }
  fmt::print("prefill: {} prompt tokens in {:.3f} ms ({:.1f} tok/s)\n", r.prompt_tokens,
             r.prefill_seconds * 1e3, r.prefill_tokens_per_second());
  fmt::print("decode:  {} tokens ({} steps x {} sequences) in {:.3f} ms ({:.1f} tok/s)\n",
             r.decode_tokens, o.args.max_new_tokens - 1, prompts.size(), r.decode_seconds * 1e3,
             r.decode_tokens_per_second());
}

void run_generate(const GenerateArgs& a) {
  check_prompt_kinds(a);
  check_numbers(a);
  for (const auto& p : a.prompt_ids) parse_ids(p);  // bad ids fail before the model loads
  for (const auto& f : a.text_files) eco::bench::read_text_prompt(f);
  eco::engine::EngineOptions opts = engine_options(a);

  const auto dir = eco::model::resolve_model(a.model);
  const bool synthetic = eco::model::is_synthetic_spec(a.model);
  const auto weights = eco::model::load_model(dir);
  const std::optional<eco::model::Tokenizer> tok = generate_tokenizer(a, dir, synthetic);
  std::vector<std::string> origins;
  const auto prompts = build_prompts(a, tok ? &*tok : nullptr, weights.config.vocab_size, origins);
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());

  opts.max_batch = int(prompts.size());
  opts.max_context = context_for(a, weights.config, longest);

  auto eng = eco::engine::create_engine(weights, opts);
  const auto r = eco::engine::generate(*eng, prompts, a.max_new_tokens);
  const GenerateOutcome outcome{a, dir, *eng, prompts, origins, r, tok ? &*tok : nullptr};
  if (a.json)
    print_json(outcome);
  else
    print_text(outcome);
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<GenerateArgs>();
  sub.add_option("--model", args->model,
                 "Model directory, or synthetic:SHAPE (e.g. synthetic:tiny)")
      ->required();
  sub.add_option("--prompt-ids", args->prompt_ids,
                 "Comma-separated prompt token ids; repeat the flag for several prompts")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--prompt", args->prompt_texts,
                 "Prompt text, through the model's tokenizer; repeat for several prompts")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--text", args->text_files,
                 "File whose contents are one prompt's text; repeat for several prompts")
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

ECO_COMMAND("generate", "Greedy generation from text or token ids, with prefill and decode timing",
            setup);
