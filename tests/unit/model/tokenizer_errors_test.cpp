// Malformed and unsupported tokenizer.json files give errors that name the file, the field and
// the problem; huge inputs are encoded without failing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "model/tokenizer.h"
#include "tokenizer_test_util.h"

namespace eco::model {
namespace {

using nlohmann::json;
using testing::AllOf;
using testing::HasSubstr;

std::string load_error(const std::string& text, const std::string& config = {}) {
  try {
    Tokenizer::from_json(text, "dir/tokenizer.json", config);
  } catch (const eco::Error& e) {
    return e.what();
  }
  return "no error";
}
std::string load_error(const json& j) {
  return load_error(j.dump(), std::string());
}

TEST(TokenizerErrors, NotJson) {
  EXPECT_THAT(load_error(std::string("{\"model\": ")),
              AllOf(HasSubstr("dir/tokenizer.json"), HasSubstr("not valid JSON")));
  EXPECT_THAT(load_error(std::string("[1, 2]")), HasSubstr("expected a JSON object"));
}

TEST(TokenizerErrors, MissingFields) {
  json j = test::sentencepiece_json();
  j.erase("model");
  EXPECT_THAT(load_error(j), HasSubstr("missing field \"model\""));
  j = test::sentencepiece_json();
  j["model"].erase("vocab");
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("model"), HasSubstr("missing field \"vocab\"")));
  j = test::sentencepiece_json();
  j["model"].erase("merges");
  EXPECT_THAT(load_error(j), HasSubstr("missing field \"merges\""));
  j = test::sentencepiece_json();
  j["added_tokens"][1].erase("id");
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("added_tokens[1]"), HasSubstr("\"id\"")));
}

TEST(TokenizerErrors, WrongTypes) {
  json j = test::sentencepiece_json();
  j["model"]["vocab"] = json::array({"a", "b"});
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("model.vocab"), HasSubstr("expected an object")));
  j = test::sentencepiece_json();
  j["model"]["vocab"]["a"] = "260";
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("vocab[\"a\"]"), HasSubstr("integer id")));
  j = test::sentencepiece_json();
  j["model"]["byte_fallback"] = "yes";
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("byte_fallback"), HasSubstr("true or false")));
  j = test::sentencepiece_json();
  j["model"]["merges"] = 7;
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("merges"), HasSubstr("expected an array")));
  j = test::sentencepiece_json();
  j["model"]["merges"][1] = 3;
  EXPECT_THAT(load_error(j), HasSubstr("merges[1]"));
  j = test::sentencepiece_json();
  j["model"]["merges"][0] = "abc";
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("merges[0]"), HasSubstr("two tokens")));
}

TEST(TokenizerErrors, MergesWithUnknownTokens) {
  json j = test::sentencepiece_json();
  j["model"]["merges"].push_back("a zz");
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("merges[4]"), HasSubstr("\"zz\""),
                                   HasSubstr("not in the vocabulary")));
  j = test::sentencepiece_json();
  j["model"]["merges"].push_back("c a");  // "ca" is not a token
  EXPECT_THAT(load_error(j),
              AllOf(HasSubstr("merged token \"ca\""), HasSubstr("not in the vocabulary")));
  j = test::sentencepiece_json();
  j["model"]["vocab"]["\u2581abc"] = 263;  // id of "▁a" too
  EXPECT_THAT(load_error(j), HasSubstr("id 263 is given to both"));
  j = test::sentencepiece_json();
  j["model"]["unk_token"] = "<missing>";
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("unk_token"), HasSubstr("<missing>")));
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  json j = test::sentencepiece_json();
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("normalizer"), HasSubstr("\"Lowercase\""),
                                   HasSubstr("not supported")));
  j = test::sentencepiece_json();
  j["normalizer"]["normalizers"][1] = {{"type", "NFKC"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("normalizer.normalizers[1]"), HasSubstr("NFKC")));
  j = test::sentencepiece_json();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("pre_tokenizer"), HasSubstr("\"Whitespace\"")));
  j = test::sentencepiece_json();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("decoder"), HasSubstr("\"WordPiece\"")));
  j = test::sentencepiece_json();
  j["post_processor"] = {{"type", "Fancy"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("post_processor"), HasSubstr("\"Fancy\"")));
  j = test::sentencepiece_json();
  j["model"]["type"] = "Unigram";
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("model"), HasSubstr("\"Unigram\"")));
  j = test::sentencepiece_json();
  j["model"]["dropout"] = 0.1;
  EXPECT_THAT(load_error(j), HasSubstr("dropout"));
  j = test::sentencepiece_json();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Digits"}}}}};
  EXPECT_THAT(load_error(j), HasSubstr("ByteLevel"));
}

TEST(TokenizerErrors, BadRegexAndTemplates) {
  json j = test::sentencepiece_json();
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("pre_tokenizer.pattern"),
                                   HasSubstr("does not compile"), HasSubstr("(unclosed")));
  j["pre_tokenizer"]["pattern"] = {{"Regex", "a"}};
  j["pre_tokenizer"]["behavior"] = "Sideways";
  EXPECT_THAT(load_error(j), HasSubstr("\"Sideways\""));
  j = test::sentencepiece_json();
  j["post_processor"]["single"][0]["SpecialToken"]["id"] = "<bos>";
  j["post_processor"].erase("special_tokens");
  EXPECT_THAT(load_error(j), AllOf(HasSubstr("post_processor"), HasSubstr("\"<bos>\"")));
}

TEST(TokenizerErrors, ConfigProblems) {
  const std::string tj = test::sentencepiece_json().dump();
  EXPECT_THAT(load_error(tj, "{oops"),
              AllOf(HasSubstr("tokenizer_config.json"), HasSubstr("not valid JSON")));
  EXPECT_THAT(load_error(tj, R"({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true,
                                 "bos_token": "<nope>"})"),
              HasSubstr("bos_token is not a token"));
}

TEST(TokenizerErrors, MissingFilesSayWhatToDo) {
  const auto dir = std::filesystem::temp_directory_path() / "eco_tokenizer_missing_dir";
  std::filesystem::create_directories(dir);
  EXPECT_FALSE(has_tokenizer(dir));
  try {
    load_tokenizer_for_model(dir);
    FAIL() << "no error";
  } catch (const eco::Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(dir.string()), HasSubstr("tokenizer.json"),
                                HasSubstr("token ids")));
  }
  EXPECT_THROW(Tokenizer::load(dir / "nope"), eco::Error);
  EXPECT_THROW(write_byte_level_tokenizer(dir, 100), eco::Error);
}

TEST(TokenizerErrors, HugeInputsEncodeWithoutFailing) {
  const Tokenizer byte_level = Tokenizer::from_json(byte_level_tokenizer_json(1000), "synthetic");
  const Tokenizer sp = Tokenizer::from_json(test::sentencepiece_json().dump(), "sp");
  // 2 MiB of spaces (the regex backtracks over whole runs), a 1 MiB "word" with no break,
  // and 1 MiB of newlines and tabs.
  for (const std::string& text : {std::string(2u << 20, ' '), std::string(1u << 20, 'x'),
                                  std::string(1u << 19, '\n') + std::string(1u << 19, '\t')}) {
    const auto ids = byte_level.encode(text, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(byte_level.decode(ids), text);
    const auto sp_ids = sp.encode(text, false);
    EXPECT_EQ(sp.decode(sp_ids), text);
  }
}

}  // namespace
}  // namespace eco::model
