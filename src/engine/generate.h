#pragma once
// Batched greedy generation with host timing, on top of any Engine.
#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace eco::engine {

struct GenerationResult {
  std::vector<std::vector<int32_t>> tokens;  // new tokens per sequence (trimmed at EOS if asked)
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t prompt_tokens = 0;     // summed over sequences
  int64_t generated_tokens = 0;  // summed over sequences, before EOS trimming
  // Tokens that went through the model in decode steps: (max_new_tokens - 1) per sequence, as
  // the first new token comes from prefill's logits.
  int64_t decode_tokens = 0;

  // Throughputs in tokens per second; 0 when the phase took no measurable time or had no tokens.
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

// Prefill, then max_new_tokens - 1 decode steps (the first new token comes from prefill's
// logits). Each phase is timed with the device synchronised at its end.
GenerationResult generate(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                          int max_new_tokens, bool stop_at_eos = false);

}  // namespace eco::engine
