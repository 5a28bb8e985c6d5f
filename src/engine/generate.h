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
};

// Prefill, then max_new_tokens - 1 decode steps (the first new token comes from prefill's
// logits). Each phase is timed with the device synchronised at its end.
GenerationResult generate(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                          int max_new_tokens, bool stop_at_eos = false);

}  // namespace eco::engine
