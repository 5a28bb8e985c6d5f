// The tokenizer's steps on small hand-written tokenizer.json files: BPE merge order, byte
// fallback, unknown tokens, ignore_merges, added tokens, split behaviors, decoders.
#include <gtest/gtest.h>

#include "model/tokenizer.h"
#include "model/tokenizer_pipeline.h"
#include "tokenizer_test_util.h"

namespace eco::model {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

Tokenizer make(const json& j, const std::string& config = {}) {
  return Tokenizer::from_json(j.dump(), "test/tokenizer.json", config);
}

TEST(Tokenizer, SentencePieceStyleMergesInRankOrder) {
  const Tokenizer tok = make(test::sentencepiece_json());
  // ▁ a b c: "▁ a" (rank 0), then "▁a b" (rank 2); "a b" and "b c" lose their symbols first.
  EXPECT_EQ(tok.encode("abc"), (Ids{1, 265, 262}));
  EXPECT_EQ(tok.encode("abc", false), (Ids{265, 262}));
  EXPECT_EQ(tok.encode("ab ab"), (Ids{1, 265, 265}));
  EXPECT_EQ(tok.encode(""), (Ids{1}));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.vocab_size(), 267);
}

TEST(Tokenizer, MergeRankDecidesBetweenOverlappingPairs) {
  json j = test::sentencepiece_json();
  // Without the "▁" merges, "bc" (now ranked first) wins over "ab".
  j["model"]["merges"] = {"b c", "a b"};
  EXPECT_EQ(make(j).encode("abc", false), (Ids{259, 260, 266}));
  j["model"]["merges"] = {"a b", "b c"};
  EXPECT_EQ(make(j).encode("abc", false), (Ids{259, 264, 262}));
  // Pairs given as arrays mean the same as "a b" strings.
  j["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"b", "c"})});
  EXPECT_EQ(make(j).encode("abc", false), (Ids{259, 264, 262}));
}

TEST(Tokenizer, ByteFallbackForUnknownCharactersAndInvalidBytes) {
  const Tokenizer tok = make(test::sentencepiece_json());
  // "é" is not in the vocabulary: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(tok.encode("\u00e9", false), (Ids{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.decode(tok.encode("\u00e9 abc", false)), "\u00e9 abc");
  // An invalid byte goes the same way and decodes back to the same byte.
  const std::string bad =
      "a\xFF"
      "b";
  EXPECT_EQ(tok.encode(bad, false), (Ids{263, 3 + 0xFF, 261}));
  EXPECT_EQ(tok.decode(tok.encode(bad, false)), bad);
}

TEST(Tokenizer, UnknownTokenFusedWithoutByteFallback) {
  json j = test::sentencepiece_json();
  j["model"]["byte_fallback"] = false;
  EXPECT_EQ(make(j).encode("axyb", false), (Ids{263, 0, 261}));
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(make(j).encode("axyb", false), (Ids{263, 0, 0, 261}));
}

TEST(Tokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  json j = test::sentencepiece_json();
  j["model"]["vocab"]["\u2581abc"] = 267;  // reachable by no merge
  EXPECT_EQ(make(j).encode("abc", false), (Ids{265, 262}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(make(j).encode("abc", false), (Ids{267}));
}

TEST(Tokenizer, SpecialTokensAreMatchedBeforeNormalization) {
  const Tokenizer tok = make(test::sentencepiece_json());
  // Each text segment is normalized on its own, so "b" after </s> gets its own "▁".
  EXPECT_EQ(tok.encode("a</s>b", false), (Ids{263, 2, 259, 261}));
  EXPECT_EQ(tok.decode(tok.encode("a</s>b", false)), "a</s> b");
  EXPECT_EQ(tok.decode(tok.encode("a</s>b", false), true), "a b");
  EXPECT_TRUE(tok.is_special(2));
  EXPECT_FALSE(tok.is_special(263));
}

TEST(Tokenizer, AddedTokensLeftmostLongestWithStripping) {
  json j = test::sentencepiece_json();
  j["added_tokens"].push_back({{"id", 267},
                               {"content", "<x>"},
                               {"special", true},
                               {"normalized", false},
                               {"lstrip", true},
                               {"rstrip", true}});
  j["added_tokens"].push_back(
      {{"id", 268}, {"content", "<x><y>"}, {"special", false}, {"normalized", false}});
  const Tokenizer tok = make(j);
  // Longest match wins at the same start.
  EXPECT_EQ(tok.encode("<x><y>", false), (Ids{268}));
  // lstrip/rstrip swallow the spaces around <x>.
  EXPECT_EQ(tok.encode("a  <x>  b", false), (Ids{263, 267, 259, 261}));
  EXPECT_EQ(tok.token_to_id("<x>"), 267);
  EXPECT_EQ(tok.id_to_token(268), "<x><y>");
}

TEST(Tokenizer, SingleWordAddedTokensNeedWordBoundaries) {
  json j = test::sentencepiece_json();
  j["added_tokens"].push_back({{"id", 267},
                               {"content", "ab"},
                               {"special", false},
                               {"normalized", false},
                               {"single_word", true}});
  const Tokenizer tok = make(j);
  // The text after the token is a segment of its own: " c" becomes "▁▁c".
  EXPECT_EQ(tok.encode("c ab c", false), (Ids{259, 262, 259, 267, 259, 259, 262}));
  EXPECT_EQ(tok.encode("cab", false), (Ids{259, 262, 264}));
}

TEST(Tokenizer, ConfigOverridesBosForLlamaTokenizers) {
  const std::string config =
      R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "add_eos_token": true,
          "bos_token": {"content": "<s>"}, "eos_token": "</s>"})";
  const Tokenizer tok = make(test::sentencepiece_json(), config);
  EXPECT_EQ(tok.encode("ab"), (Ids{1, 265, 2}));
  EXPECT_EQ(tok.eos_id(), 2);
  // Other tokenizer classes keep tokenizer.json's post-processor.
  const Tokenizer other = make(test::sentencepiece_json(),
                               R"({"tokenizer_class": "PreTrainedTokenizerFast",
                                   "add_eos_token": true, "eos_token": "</s>"})");
  EXPECT_EQ(other.encode("ab"), (Ids{1, 265}));
}

TEST(Tokenizer, NoDecoderJoinsTokensWithSpaces) {
  json j = test::sentencepiece_json();
  j["decoder"] = nullptr;
  EXPECT_EQ(make(j).decode(Ids{263, 261}), "\u2581a b");
}

TEST(Tokenizer, UnknownIdsAreSkippedWhenDecoding) {
  const Tokenizer tok = make(test::sentencepiece_json());
  EXPECT_EQ(tok.decode(Ids{263, 99999, -5, 261}), "ab");
  EXPECT_FALSE(tok.id_to_token(99999).has_value());
}

// ---- pre-tokenizers, checked on their own ------------------------------------------------

std::vector<std::string> pre_tokenize(const json& j, const std::string& text, bool first = true) {
  bool byte_level = false;
  auto pt = tok::make_pre_tokenizer(j, "test", byte_level);
  tok::Pieces p;
  p.text = text;
  p.spans.emplace_back(0, static_cast<uint32_t>(text.size()));
  pt->pre_tokenize(p, first);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < p.spans.size(); ++i) out.emplace_back(p.piece(i));
  return out;
}

json split(const char* behavior, bool invert = false) {
  return {{"type", "Split"},
          {"pattern", {{"String", "-"}}},
          {"behavior", behavior},
          {"invert", invert}};
}

TEST(TokenizerPreTokenizer, SplitBehaviorsAsDocumentedByHuggingFace) {
  using V = std::vector<std::string>;
  const std::string s = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("Removed"), s), (V{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Isolated"), s), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), s), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), s), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), s), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Removed", true), s), (V{"-", "-", "-"}));
}

TEST(TokenizerPreTokenizer, Llama3RegexSplitsLikeTheReference) {
  using V = std::vector<std::string>;
  const json j = {
      {"type", "Split"},
      {"pattern",
       {{"Regex",
         R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
      {"behavior", "Isolated"},
      {"invert", false}};
  EXPECT_EQ(pre_tokenize(j, "I'M here  12345!\n\n x"),
            (V{"I", "'M", " here", " ", " ", "123", "45", "!\n\n", " x"}));
}

TEST(TokenizerPreTokenizer, MetaspaceSchemes) {
  using V = std::vector<std::string>;
  json j = {{"type", "Metaspace"},
            {"replacement", "\u2581"},
            {"prepend_scheme", "always"},
            {"split", true}};
  EXPECT_EQ(pre_tokenize(j, "Hey friend"), (V{"\u2581Hey", "\u2581friend"}));
  j["prepend_scheme"] = "first";
  EXPECT_EQ(pre_tokenize(j, "Hey", false), (V{"Hey"}));
  EXPECT_EQ(pre_tokenize(j, "Hey", true), (V{"\u2581Hey"}));
  j["split"] = false;
  EXPECT_EQ(pre_tokenize(j, "a b"), (V{"\u2581a\u2581b"}));
}

TEST(TokenizerPreTokenizer, DigitsAndByteLevelPrefixSpace) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "a12b"),
            (V{"a", "1", "2", "b"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "a12b"),
            (V{"a", "12", "b"}));
  // ByteLevel with add_prefix_space and the GPT-2 regex; pieces stay raw bytes.
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}}, "Hi there"),
            (V{" Hi", " there"}));
}

TEST(TokenizerDecoder, StripAndMetaspace) {
  auto strip =
      tok::make_decoder({{"type", "Strip"}, {"content", " "}, {"start", 2}, {"stop", 1}}, "test");
  std::vector<std::string> t{"   a  ", " b"};
  strip->decode_chain(t);
  EXPECT_EQ(t, (std::vector<std::string>{" a ", "b"}));
  auto meta = tok::make_decoder(
      {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}}, "test");
  std::vector<std::string> m{"\u2581Hey", "\u2581friend"};
  meta->decode_chain(m);
  EXPECT_EQ(m[0] + m[1], "Hey friend");
}

}  // namespace
}  // namespace eco::model
