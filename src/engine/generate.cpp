#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "engine/finite_logits.h"

namespace eco::engine {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double GenerationResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0.0;
}

double GenerationResult::decode_tokens_per_second() const {
  return decode_seconds > 0 ? double(decode_tokens) / decode_seconds : 0.0;
}

GenerationResult generate(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                          int max_new_tokens, bool stop_at_eos) {
  if (max_new_tokens < 1) fail("--max-new-tokens must be at least 1 (got {})", max_new_tokens);
  GenerationResult r;
  for (const auto& p : prompts) r.prompt_tokens += int64_t(p.size());

  auto t0 = std::chrono::steady_clock::now();
  engine.prefill(prompts);
  engine.synchronize();
  r.prefill_seconds = seconds_since(t0);
  check_finite_logits(engine, "prefill");

  t0 = std::chrono::steady_clock::now();
  const auto steps = engine.decode_greedy(max_new_tokens);
  engine.synchronize();
  r.decode_seconds = seconds_since(t0);
  if (max_new_tokens > 1) check_finite_logits(engine, "decode");

  r.tokens.assign(prompts.size(), {});
  for (const auto& step : steps)
    for (size_t i = 0; i < prompts.size(); ++i) r.tokens[i].push_back(step[i]);
  r.generated_tokens = int64_t(steps.size() * prompts.size());
  r.decode_tokens = int64_t(steps.empty() ? 0 : (steps.size() - 1) * prompts.size());

  if (stop_at_eos) {
    const auto& eos = engine.config().eos_token_ids;
    for (auto& seq : r.tokens) {
      auto it = std::find_if(seq.begin(), seq.end(), [&](int32_t t) {
        return std::find(eos.begin(), eos.end(), t) != eos.end();
      });
      if (it != seq.end()) seq.erase(it + 1, seq.end());
    }
  }
  return r;
}

}  // namespace eco::engine
