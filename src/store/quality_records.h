#pragma once
// Quality scores as the store keeps them: one row per (model, format) scored by `ecocompute
// quality` against a base format over a text. Model and format ids are those of bench runs, so
// the accuracy of a configuration stands beside its energy. NaN is "not measured" (NULL).
#include <cstdint>
#include <optional>
#include <string>

#include "store/records.h"

namespace eco::store {

// Percentiles of a per-token quantity, highest first.
struct QualityPercentiles {
  double max = kNotMeasured, p99_9 = kNotMeasured, p99 = kNotMeasured, p95 = kNotMeasured,
         p90 = kNotMeasured, median = kNotMeasured, p10 = kNotMeasured, p5 = kNotMeasured,
         p1 = kNotMeasured, min = kNotMeasured;
};

struct QualityRecord {
  int64_t id = 0;
  std::optional<int64_t> session_id;
  int64_t model_id = 0;
  int64_t format_id = 0;
  int64_t base_format_id = 0;
  std::string device;         // cpu | cuda
  std::string engine;         // Engine::describe() of the scored format
  std::string text_source;    // "--text PATH", "--tokens PATH" or the bundled text's name
  std::string tokens_sha256;  // of the scored token ids (little-endian int32)
  int64_t text_tokens = 0;    // tokens in the whole text
  int ctx = 0;
  int chunks = 0;
  int64_t tokens_scored = 0;
  double ppl = kNotMeasured, ppl_err = kNotMeasured;
  double nll = kNotMeasured, nll_err = kNotMeasured;  // nats per token
  double ln_ppl_ratio = kNotMeasured, ln_ppl_ratio_err = kNotMeasured;
  double kld = kNotMeasured, kld_err = kNotMeasured;  // nats per token
  QualityPercentiles kld_pct;
  double same_top1 = kNotMeasured, same_top1_err = kNotMeasured;  // fraction, 0..1
  double delta_p = kNotMeasured, delta_p_err = kNotMeasured, delta_p_rms = kNotMeasured;
  QualityPercentiles delta_p_pct;
  double seconds = kNotMeasured;
  std::string created_at;  // ISO 8601 UTC
};

}  // namespace eco::store
