#pragma once
// Prompts from text: `--prompt "text"` and `--text FILE` of `generate`, `bench` and `run` go
// through the model's tokenizer (model/tokenizer.h) and become the prompt's token ids.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer.h"

namespace eco::bench {

struct TextPrompt {
  std::string text;
  std::string origin;  // "--prompt" or "--text PATH": named in errors and stored with results
};

// The whole file as one prompt (bytes as they are). Errors name the path: missing, not a regular
// file, unreadable, empty.
TextPrompt read_text_prompt(const std::string& path);

// The tokenizer of a model directory. A synthetic model directory without tokenizer.json gets
// the byte-level tokenizer of model::byte_level_tokenizer_json() for its vocabulary and BOS/EOS
// ids, built in memory (the directory is not written). Any other directory without one is an
// error that says what to do (model::load_tokenizer_for_model).
model::Tokenizer tokenizer_for_model(const std::filesystem::path& dir, bool synthetic);

// The prompt's token ids with the tokenizer's special tokens (BOS where the model expects it).
// Errors when the text gives no token or an id is outside the model's vocabulary.
std::vector<int32_t> encode_prompt(const model::Tokenizer& tokenizer, const TextPrompt& prompt,
                                   int vocab_size, const std::string& model);

// What a configuration records about its prompt (stored in the configuration's protocol JSON
// under "prompt"): {"kind": "text", "origin", "text" (first 64 KiB), "text_bytes",
// "text_sha256", "token_ids"} or {"kind": "seeded-random", "seed"}.
nlohmann::json text_prompt_record(const TextPrompt& prompt, const std::vector<int32_t>& ids);
nlohmann::json seeded_prompt_record(uint64_t seed);

// Bytes for a terminal line: valid UTF-8 kept, \n \t \r and \\ escaped, other control bytes
// and invalid UTF-8 written as \xNN.
std::string printable_text(std::string_view bytes);

}  // namespace eco::bench
