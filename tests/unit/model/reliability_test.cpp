// Hostile or damaged model directories get a clear error naming the file, never a hang, a crash
// or a silent misreading: FIFOs and devices in place of files, unbounded JSON, nesting deep
// enough to overflow a recursive builder, numbers out of range, a file truncated while mapped,
// and weights with more layers than the config declares.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "model/config.h"
#include "model/json_input.h"
#include "model/safetensors.h"
#include "model/synth.h"
#include "model/tokenizer.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "tokenizer_test_util.h"

namespace eco::model {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A small synthetic model (tiny shape) written once per test.
class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(60);  // a regression that blocks on a FIFO fails instead of hanging the suite
    SynthOptions o;
    o.shape = "tiny";
    write_synthetic_model(o, dir_.path());
  }
  void TearDown() override { ::alarm(0); }
  void replace_with_fifo(const std::string& name) {
    fs::remove(dir_ / name);
    ASSERT_EQ(::mkfifo((dir_ / name).c_str(), 0644), 0);
  }
  void replace_with_symlink(const std::string& name, const fs::path& target) {
    fs::remove(dir_ / name);
    fs::create_symlink(target, dir_ / name);
  }
  TempDir dir_;
};

TEST_F(ModelDir, FifoConfigIsRefusedNotWaitedOn) {
  replace_with_fifo("config.json");
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr("config.json"), HasSubstr("FIFO")));
}

TEST_F(ModelDir, FifoWeightsAreRefusedNotWaitedOn) {
  replace_with_fifo("model.safetensors");
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr("model.safetensors"), HasSubstr("must be a regular file"),
                    HasSubstr("FIFO")));
}

TEST_F(ModelDir, DevZeroConfigAndIndexAreRefusedNotReadForever) {
  replace_with_symlink("config.json", "/dev/zero");
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr("config.json"), HasSubstr("character device")));
  SynthOptions o;
  o.shape = "tiny";
  write_synthetic_model(o, dir_.path());  // config back; now a sharded layout with a bad index
  fs::rename(dir_ / "model.safetensors", dir_ / "model-00001.safetensors");
  replace_with_symlink("model.safetensors.index.json", "/dev/zero");
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("character device")));
}

TEST_F(ModelDir, OversizedIndexIsRefusedBeforeParsing) {
  fs::rename(dir_ / "model.safetensors", dir_ / "model-00001.safetensors");
  {
    std::ofstream out(dir_ / "model.safetensors.index.json", std::ios::binary);
    out << std::string(kMaxIndexBytes + 1, ' ');
  }
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("limit")));
}

TEST_F(ModelDir, DirectoryConfigIsCalledADirectoryNotBadJson) {
  fs::remove(dir_ / "config.json");
  fs::create_directories(dir_ / "config.json");
  const std::string e = error_of([&] { load_config(dir_.path()); });
  EXPECT_THAT(e, AllOf(HasSubstr("config.json"), HasSubstr("a directory")));
  EXPECT_THAT(e, Not(HasSubstr("not valid JSON")));
}

TEST_F(ModelDir, FifoOrDevZeroTokenizerIsNamedAsSuch) {
  for (const bool fifo : {true, false}) {
    if (fifo)
      replace_with_fifo("tokenizer.json");
    else
      replace_with_symlink("tokenizer.json", "/dev/zero");
    EXPECT_TRUE(has_tokenizer(dir_.path()));
    const std::string e = error_of([&] { load_tokenizer_for_model(dir_.path()); });
    EXPECT_THAT(e,
                AllOf(HasSubstr("tokenizer.json"), HasSubstr(fifo ? "FIFO" : "character device")));
    EXPECT_THAT(e, Not(HasSubstr("has no tokenizer.json")));
  }
}

TEST_F(ModelDir, FewerConfigLayersThanStoredLayersIsRefused) {
  ModelConfig c = load_config(dir_.path());
  const int stored = c.num_layers;
  c.num_layers = stored - 1;
  testing::write_file(dir_ / "config.json", config_to_json(c));
  EXPECT_THAT(error_of([&] { load_model(dir_.path()); }),
              AllOf(HasSubstr(fmt::format("layers up to {}", stored - 1)),
                    HasSubstr(fmt::format("num_hidden_layers = {}", stored - 1))));
}

// The file shrinks after it was validated and mapped, before the weights are read: the process
// ends with an error naming the file (exit 1), not a SIGBUS.
[[noreturn]] void load_then_truncate(const fs::path& dir) {
  const ModelWeights w = load_model(dir);
  ::truncate((dir / "model.safetensors").c_str(), 4096);
  volatile std::byte last = w.lm_head.data[w.lm_head.nbytes - 1];
  (void)last;
  std::_Exit(0);
}

TEST_F(ModelDir, TruncatedWhileMappedIsAnErrorNamingTheFile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_then_truncate(dir_.path()), ::testing::ExitedWithCode(1),
              "model.safetensors: the file became shorter while it was being read");
}

// ---- JSON limits --------------------------------------------------------------------------

std::string nested(const std::string& open, const std::string& close, int depth,
                   const std::string& inner) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

TEST(JsonInput, DepthCountsBracketsOutsideStrings) {
  EXPECT_EQ(json_depth("{}"), 1);
  EXPECT_EQ(json_depth(R"({"a": [1, {"b": "[[[[\"]]"}]})"), 3);
  EXPECT_EQ(json_depth("5"), 0);
  EXPECT_THAT(error_of([] { parse_json_text(nested("[", "]", 200, "1"), "x.json"); }),
              AllOf(HasSubstr("x.json"), HasSubstr("nested 200 levels")));
}

TEST(JsonInput, NumberOutOfRangeNamesTheFile) {
  EXPECT_THAT(error_of([] { parse_json_text(R"({"a": 1E400})", "dir/tokenizer.json"); }),
              AllOf(HasSubstr("dir/tokenizer.json"), HasSubstr("not valid JSON")));
  EXPECT_THAT(error_of([] {
                Tokenizer::from_json(R"({"model": {"type": "BPE", "dropout": 1E400}})",
                                     "dir/tokenizer.json");
              }),
              HasSubstr("dir/tokenizer.json"));
  EXPECT_THAT(
      error_of([] { parse_config(R"({"model_type": "llama", "rope_theta": 1E400})", "c.json"); }),
      HasSubstr("c.json"));
}

TEST(JsonInput, DeeplyNestedTokenizerStepsAreRefused) {
  // 20 000 nested pre-tokenizer Sequences (40 000 JSON levels) used to overflow the stack of the
  // recursive builder; normalizer and decoder at 50 000.
  const nlohmann::json base = test::sentencepiece_json();
  auto with = [&](const std::string& key, const std::string& value) {
    nlohmann::json j = base;
    j.erase(key);
    std::string t = j.dump();
    t.insert(1, "\"" + key + "\": " + value + ", ");
    return t;
  };
  const std::string pre = nested(R"({"type": "Sequence", "pretokenizers": [)", "]}", 20000,
                                 R"({"type": "Digits", "individual_digits": true})");
  const std::string norm =
      nested(R"({"type": "Sequence", "normalizers": [)", "]}", 50000, R"({"type": "NFC"})");
  const std::string dec =
      nested(R"({"type": "Sequence", "decoders": [)", "]}", 50000, R"({"type": "Fuse"})");
  for (const auto& [key, value] : {std::pair{std::string("pre_tokenizer"), pre},
                                   {std::string("normalizer"), norm},
                                   {std::string("decoder"), dec}}) {
    EXPECT_THAT(error_of([&] { Tokenizer::from_json(with(key, value), "deep/tokenizer.json"); }),
                AllOf(HasSubstr("deep/tokenizer.json"), HasSubstr("levels deep")))
        << key;
  }
  // A few levels, as real files use, still load.
  const std::string shallow =
      nested(R"({"type": "Sequence", "decoders": [)", "]}", 5, R"({"type": "Fuse"})");
  EXPECT_NO_THROW(Tokenizer::from_json(with("decoder", shallow), "ok/tokenizer.json"));
}

TEST(TokenizerDecoder, EmptyMetaspaceReplacementIsRefused) {
  nlohmann::json j = test::sentencepiece_json();
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", ""}, {"prepend_scheme", "always"}};
  EXPECT_THAT(error_of([&] { Tokenizer::from_json(j.dump(), "m/tokenizer.json"); }),
              AllOf(HasSubstr("m/tokenizer.json"), HasSubstr("decoder.replacement"),
                    HasSubstr("one character")));
  j["decoder"]["replacement"] = "\u2581";
  const Tokenizer tok = Tokenizer::from_json(j.dump(), "m/tokenizer.json");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{263, 263}), "a a");  // "▁a" "▁a"
}

}  // namespace
}  // namespace eco::model
