#include "engine/finite_logits.h"

#include <cmath>

#include "common/error.h"
#include "engine/engine.h"

namespace eco::engine {

void check_finite_logits(std::span<const float> logits, size_t vocab, std::string_view when) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isfinite(logits[i])) continue;
    const size_t row = vocab > 0 ? i / vocab : 0;
    fail(
        "{}: the model's output is not a number (logit {} of row {} is {}): the weights "
        "hold NaN or infinite values, or the format overflowed; check the model files (a "
        "damaged or badly converted checkpoint) or try another --format",
        when, vocab > 0 ? i % vocab : i, row, logits[i]);
  }
}

void check_finite_logits(Engine& engine, std::string_view when) {
  const std::vector<float> logits = engine.logits();
  check_finite_logits(logits, size_t(engine.config().vocab_size), when);
}

}  // namespace eco::engine
