#include "bench/prompt.h"

#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/config.h"
#include "store/sha256.h"

namespace eco::bench {

namespace fs = std::filesystem;

TextPrompt read_text_prompt(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    fail("--text {}: no such file; give the path of a text file whose contents are the prompt",
         path);
  if (fs::is_directory(status))
    fail("--text {}: is a directory; give the path of a text file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--text {}: cannot open the file for reading (check its permissions)", path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("--text {}: reading the file failed", path);
  TextPrompt p{ss.str(), "--text " + path};
  if (p.text.empty()) fail("--text {}: the file is empty; a prompt needs some text", path);
  return p;
}

model::Tokenizer tokenizer_for_model(const fs::path& dir, bool synthetic) {
  if (synthetic && !model::has_tokenizer(dir)) {
    const model::ModelConfig cfg = model::load_config(dir);
    if (cfg.vocab_size < 258)
      fail(
          "{}: a synthetic model needs a vocabulary of at least 258 ids for its byte-level "
          "tokenizer (has {}); pass token ids instead of text",
          dir.string(), cfg.vocab_size);
    const int eos = cfg.eos_token_ids.empty() ? -1 : cfg.eos_token_ids.front();
    return model::Tokenizer::from_json(
        model::byte_level_tokenizer_json(cfg.vocab_size, cfg.bos_token_id, eos),
        "synthetic byte-level tokenizer of " + dir.string(),
        model::byte_level_tokenizer_config_json(cfg.bos_token_id >= 0 && cfg.bos_token_id == eos));
  }
  return model::load_tokenizer_for_model(dir);
}

std::vector<int32_t> encode_prompt(const model::Tokenizer& tokenizer, const TextPrompt& prompt,
                                   int vocab_size, const std::string& model) {
  std::vector<int32_t> ids = tokenizer.encode(prompt.text, true);
  if (ids.empty())
    fail("{}: the text gives no tokens with the tokenizer of {}; give a non-empty prompt",
         prompt.origin, model);
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_size)
      fail(
          "{}: the tokenizer of {} gives token id {}, outside the model's vocabulary of {} "
          "ids: the tokenizer does not belong to this model",
          prompt.origin, model, id, vocab_size);
  return ids;
}

nlohmann::json text_prompt_record(const TextPrompt& prompt, const std::vector<int32_t>& ids) {
  constexpr size_t kMaxStored = 64 * 1024;
  std::string stored = prompt.text.substr(0, kMaxStored);
  // Cut at a character boundary so the JSON stays valid UTF-8 where the text was.
  if (stored.size() < prompt.text.size())
    while (!stored.empty() && (static_cast<unsigned char>(stored.back()) & 0xC0) == 0x80)
      stored.pop_back();
  nlohmann::json j{{"kind", "text"},
                   {"origin", prompt.origin},
                   {"text", printable_text(stored)},
                   {"text_bytes", prompt.text.size()},
                   {"text_sha256", store::sha256_hex(prompt.text)},
                   {"token_ids", ids}};
  if (stored.size() < prompt.text.size()) j["text_truncated"] = true;
  return j;
}

nlohmann::json seeded_prompt_record(uint64_t seed) {
  return {{"kind", "seeded-random"}, {"seed", seed}};
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string printable_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_sequence(s, i);
    if (n == 1) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\t')
        out += "\\t";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\\')
        out += "\\\\";
      else if (c < 0x20 || c == 0x7F)
        out += fmt::format("\\x{:02X}", c);
      else
        out += char(c);
      ++i;
    } else if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += fmt::format("\\x{:02X}", c);
      ++i;
    }
  }
  return out;
}

}  // namespace eco::bench
