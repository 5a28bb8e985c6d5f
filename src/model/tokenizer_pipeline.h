#pragma once
// The steps of a Hugging Face tokenizer.json pipeline, as ecocompute implements them:
// normalizer -> pre-tokenizer -> model (BPE) -> post-processor, and the decoder for the way back.
// Internal to model/; the public face is model/tokenizer.h.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer_regex.h"

namespace eco::model::tok {

using json = nlohmann::json;

// ---- JSON access with errors that name the file and field ------------------------------------
// `where` is "<file>: <field path>", e.g. "tokenizer.json: pre_tokenizer.pretokenizers[0]".
const json& field(const json& obj, std::string_view key, const std::string& where);
std::string string_field(const json& obj, std::string_view key, const std::string& where);
// Absent or null -> `fallback`; present with another type -> error.
bool bool_field(const json& obj, std::string_view key, bool fallback, const std::string& where);
std::string optional_string(const json& obj, std::string_view key, const std::string& where);
int64_t int_field(const json& obj, std::string_view key, const std::string& where);
void expect_object(const json& j, const std::string& where);
[[noreturn]] void unsupported(const std::string& where, const std::string& kind,
                              const std::string& type, std::string_view supported);

// ---- Pre-tokenized text: one buffer and the spans that are the current pieces ----------------
struct Pieces {
  std::string text;
  std::vector<std::pair<uint32_t, uint32_t>> spans;  // [begin, end) into text
  std::string_view piece(std::size_t i) const {
    return std::string_view(text).substr(spans[i].first, spans[i].second - spans[i].first);
  }
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};
// Null json -> nullptr (no normalizer).
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where);

// A {"String": s} or {"Regex": r} pattern object.
TokenizerRegex pattern_regex(const json& pattern, const std::string& where);

// Replace (normalizer and decoder): every non-empty match of the pattern becomes `content`.
class ReplaceStep final : public Normalizer {
 public:
  ReplaceStep(const json& j, const std::string& where);
  void normalize(std::string& text) const override { text = apply(text); }
  std::string apply(std::string_view text) const;

 private:
  TokenizerRegex regex_;
  std::string content_;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // `first` is true for the piece that starts the original input (Metaspace "first" scheme).
  virtual void pre_tokenize(Pieces& pieces, bool first) const = 0;
};
// Null json -> nullptr. Sets `byte_level` when the chain ends in a ByteLevel step (the model
// then sees raw bytes; see BpeModel). ByteLevel anywhere but last is rejected.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where,
                                                 bool& byte_level);

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where);

// Post-processing of a single sequence: ids before and after it when special tokens are added.
struct PostProcessor {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
};
// `token_id` resolves a token string to its id (-1 when unknown).
PostProcessor make_post_processor(const json& j, const std::string& where,
                                  const std::function<int32_t(std::string_view)>& token_id);

}  // namespace eco::model::tok
