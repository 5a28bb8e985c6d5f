// Fuzz target: the tokenizer.json loader and the encoder/decoder. The first byte picks the mode:
//   0: the rest is a tokenizer.json; it must load or be rejected with eco::Error, and a loaded
//      tokenizer must encode and decode the input without crashing;
//   1: the rest is text for a byte-level tokenizer (the synthetic one): decode(encode(x)) == x
//      for any bytes, valid UTF-8 or not;
//   2: the rest is text for a SentencePiece-style tokenizer with byte fallback: ids in range, and
//      the round trip holds when the text has no "▁" and no special-token text.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "model/tokenizer.h"

namespace {

using eco::model::Tokenizer;

const Tokenizer& byte_level() {
  static const Tokenizer tok =
      Tokenizer::from_json(eco::model::byte_level_tokenizer_json(600), "fuzz/byte_level.json",
                           eco::model::byte_level_tokenizer_config_json());
  return tok;
}

const Tokenizer& sentencepiece() {
  static const Tokenizer tok = [] {
    std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
    char name[16];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(name, sizeof(name), ", \"<0x%02X>\": %d", b, 3 + b);
      vocab += name;
    }
    vocab += R"(, "▁": 259, "a": 260, "b": 261, "▁a": 262, "ab": 263, "▁ab": 264, "é": 265)";
    const std::string json = R"({"added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "normalized": false},
      {"id": 1, "content": "<s>", "special": true, "normalized": false},
      {"id": 2, "content": "</s>", "special": true, "normalized": false}],
     "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
     "pre_tokenizer": null,
     "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
     "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
     "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
        "vocab": {)" + vocab +
                             R"(}, "merges": ["▁ a", "a b", "▁a b"]}})";
    return Tokenizer::from_json(json, "fuzz/sentencepiece.json");
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      try {
        const Tokenizer tok = Tokenizer::from_json(input, "fuzz/tokenizer.json");
        const auto ids = tok.encode(input.substr(0, 256) + " Hello, world! 123 \xFF");
        (void)tok.decode(ids);
        (void)tok.decode(ids, true);
      } catch (const eco::Error&) {
      }
      return 0;
    }
    case 1: {
      const Tokenizer& tok = byte_level();
      const auto ids = tok.encode(input, false);
      for (int32_t id : ids) {
        if (id < 0 || id >= tok.vocab_size()) std::abort();
      }
      if (tok.decode(ids) != input) std::abort();
      return 0;
    }
    default: {
      const Tokenizer& tok = sentencepiece();
      const auto ids = tok.encode(input, false);
      for (int32_t id : ids) {
        if (id < 0 || id >= tok.vocab_size()) std::abort();
      }
      const bool lossless =
          input.find("\u2581") == std::string::npos && input.find("<s>") == std::string::npos &&
          input.find("</s>") == std::string::npos && input.find("<unk>") == std::string::npos;
      if (lossless && tok.decode(ids) != input) std::abort();
      return 0;
    }
  }
}
