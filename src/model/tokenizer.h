#pragma once
// Hugging Face tokenizer.json, read and run in C++: byte-level BPE (Llama-3, Qwen2/2.5/3, GPT-2
// style) and SentencePiece-style BPE with "▁" and byte fallback (Llama-2, Mistral, Yi,
// TinyLlama). Encoding matches the Hugging Face `tokenizers` library id for id (checked
// against real files in tests/tokenizer/); steps a file uses that are not implemented are
// reported by name at load time.
//
// Input need not be valid UTF-8: invalid bytes are kept as bytes (byte-level tokenizers encode
// them as byte tokens, SentencePiece-style ones through byte fallback) and decode() gives back
// the same bytes.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eco::model {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  // `tokenizer_json` is the text of tokenizer.json, `config_json` that of tokenizer_config.json
  // (empty when absent); `source` names the file in error messages.
  static Tokenizer from_json(const std::string& tokenizer_json, const std::string& source,
                             const std::string& config_json = {});
  // Reads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json. `path` may also name
  // the tokenizer.json file itself.
  static Tokenizer load(const std::filesystem::path& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special_tokens: the post-processor's tokens (e.g. BOS) around the text.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Unknown ids are skipped, as Hugging Face does. Bytes are returned exactly (see above).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The vocabulary string of an id ("Ġhello", "▁the", "<0x0A>", "<|im_start|>"); nullopt when
  // the id is not a token.
  std::optional<std::string> id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // One more than the largest id (model vocabulary or added token).
  int32_t vocab_size() const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  // From tokenizer_config.json (bos_token / eos_token), else from the post-processor; -1 when
  // the tokenizer names none.
  int32_t bos_id() const;
  int32_t eos_id() const;
  // "byte-level BPE" or "BPE" (SentencePiece-style when byte fallback is on).
  std::string description() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  static Tokenizer build(const std::string& tokenizer_json, const std::string& source,
                         const std::string& config_json);
  std::unique_ptr<Impl> impl_;
};

// True when DIR holds something named tokenizer.json (loading it may still fail: a FIFO or a
// device is refused by name).
bool has_tokenizer(const std::filesystem::path& model_dir);
// The tokenizer of a model directory, with an error that says what to do when it has none.
Tokenizer load_tokenizer_for_model(const std::filesystem::path& model_dir);

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json: a byte-level BPE tokenizer with
// exactly `vocab_size` ids for a synthetic model: "<|bos|>" and "<|eos|>" at the model's
// bos_id / eos_id (config.json's bos_token_id / eos_token_id; -1: the last two ids), the 256
// byte tokens and deterministic merges on the other ids. Requires vocab_size >= 258. When
// bos_id == eos_id (Qwen2) there is one special token, "<|endoftext|>", and nothing is
// prepended to a text, as in the real tokenizer.
void write_byte_level_tokenizer(const std::filesystem::path& dir, int vocab_size, int bos_id = -1,
                                int eos_id = -1);
// The texts of those two files.
std::string byte_level_tokenizer_json(int vocab_size, int bos_id = -1, int eos_id = -1);
std::string byte_level_tokenizer_config_json(bool shared_bos_eos = false);
// Copies tokenizer.json (and tokenizer_config.json when present) from a real model directory
// into DIR, after checking that it loads and that its ids fit a model of `vocab_size` rows.
void copy_tokenizer(const std::filesystem::path& from_dir, const std::filesystem::path& dir,
                    int vocab_size);

}  // namespace eco::model
