#pragma once
// Small hand-written tokenizer.json files for the tokenizer tests.
#include <nlohmann/json.hpp>
#include <string>

namespace eco::model::test {

// SentencePiece-style (Llama-2 layout): <unk> <s> </s>, the 256 byte-fallback tokens (ids
// 3..258), then "▁" 259, "a" 260, "b" 261, "c" 262, "▁a" 263, "ab" 264, "▁ab" 265, "bc" 266.
inline nlohmann::json sentencepiece_json() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const char* rest[] = {"\u2581", "a", "b", "c", "\u2581a", "ab", "\u2581ab", "bc"};
  for (int i = 0; i < 8; ++i) vocab[rest[i]] = 259 + i;
  auto special = [](int id, const char* c) {
    return nlohmann::json{
        {"id", id},        {"content", c},    {"special", true},     {"normalized", false},
        {"lstrip", false}, {"rstrip", false}, {"single_word", false}};
  };
  return {{"version", "1.0"},
          {"added_tokens", {special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", "<unk>"},
            {"fuse_unk", true},
            {"byte_fallback", true},
            {"vocab", vocab},
            {"merges", {"\u2581 a", "a b", "\u2581a b", "b c"}}}}};
}

}  // namespace eco::model::test
