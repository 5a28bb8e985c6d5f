#pragma once
// Quality scores into a study: the records `ecocompute quality` and `ecocompute study` store,
// with the model and format identities bench uses, so a format's accuracy stands beside its
// energy.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "quality/evaluate.h"
#include "store/store.h"

namespace eco::bench {

// The token ids a quality evaluation scored and where they came from.
struct ScoredTokens {
  std::vector<int32_t> ids;
  std::string source;  // "--text PATH", "--tokens PATH" or the bundled text's name
};

// SHA-256 of token ids written as little-endian int32.
std::string tokens_sha256(std::span<const int32_t> ids);

// The model as the store keeps it (`source` as given: a directory or "synthetic:SHAPE?...").
store::ModelRecord model_record(const std::string& source, const std::filesystem::path& dir,
                                const model::ModelConfig& config);

// Stores every scored format of `result` in one transaction under a new session that records
// `command`.
void store_quality(store::Store& st, const store::ModelRecord& model, const ScoredTokens& tokens,
                   const quality::EvalResult& result, const std::string& command);

}  // namespace eco::bench
