#pragma once
// Non-finite logits mean the model produced no answer: NaN or Inf weights (a damaged or badly
// converted checkpoint), or an overflow in a format. Greedy decoding would still pick a token
// (argmax of NaNs is token 0), and a benchmark would time and meter garbage as a valid run, so
// every engine's output is checked and the run fails with the reason.
#include <cstddef>
#include <span>
#include <string_view>

namespace eco::engine {

class Engine;

// Throws eco::Error naming `when` (e.g. "prefill", "decode step 3"), the row and the first
// non-finite value, when `logits` ([rows, vocab], row-major) holds a NaN or an infinity.
void check_finite_logits(std::span<const float> logits, size_t vocab, std::string_view when);

// The same check on the engine's current logits (one host copy of [batch, vocab]; the CUDA
// engine's device loop calls nothing per step, so callers check after prefill and after the
// last decode step, outside any timed or metered window).
void check_finite_logits(Engine& engine, std::string_view when);

}  // namespace eco::engine
