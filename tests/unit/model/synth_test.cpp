#include "model/synth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/half.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"
#include "model_test_util.h"

namespace eco::model {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

SynthOptions tiny(uint64_t seed) {
  SynthOptions o;
  o.shape = "tiny";
  o.seed = seed;
  return o;
}

TEST(Synth, SameSeedWritesIdenticalBytes) {
  TempDir a, b, c;
  write_synthetic_model(tiny(11), a.path());
  write_synthetic_model(tiny(11), b.path());
  write_synthetic_model(tiny(12), c.path());
  const auto fa = testing::read_file(a / "model.safetensors");
  EXPECT_EQ(fa, testing::read_file(b / "model.safetensors"));
  EXPECT_NE(fa, testing::read_file(c / "model.safetensors"));
  EXPECT_EQ(testing::read_file(a / "config.json"), testing::read_file(c / "config.json"));
}

// Every element equals the single-threaded generator's value: the output cannot depend on how
// the parallel writer split the work.
TEST(Synth, EveryElementMatchesTheCounterBasedGenerator) {
  TempDir dir;
  write_synthetic_model(tiny(5), dir.path());
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  const auto tensors = synth_tensors(synth_shape("tiny"));
  ASSERT_EQ(f->tensors().size(), tensors.size());
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TensorView* v = f->find(tensors[t].name);
    ASSERT_NE(v, nullptr) << tensors[t].name;
    ASSERT_EQ(v->shape, tensors[t].shape);
    ASSERT_EQ(v->dtype, DType::F16);
    for (int64_t i = 0; i < v->numel(); ++i) {
      const float expect = tensors[t].kind == SynthTensor::Kind::Random
                               ? round_to_half(synth_random_value(5, t, uint64_t(i)))
                               : 1.0f;
      ASSERT_EQ(v->at(i), expect) << tensors[t].name << " element " << i;
    }
  }
}

TEST(Synth, WeightStatistics) {
  const float a = kSynthWeightStd * std::sqrt(3.0f);
  double sum = 0, sq = 0;
  float lo = 1, hi = -1;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float v = synth_random_value(3, 4, uint64_t(i));
    sum += v;
    sq += double(v) * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 3e-4);
  EXPECT_NEAR(sd, kSynthWeightStd, 4e-4);
  EXPECT_GE(lo, -a);
  EXPECT_LT(hi, a);
  EXPECT_LT(lo, -0.99f * a);  // the whole range is used
  EXPECT_GT(hi, 0.99f * a);
  // Different tensors draw different streams.
  EXPECT_NE(synth_random_value(3, 4, 0), synth_random_value(3, 5, 0));
  EXPECT_NE(synth_random_value(3, 4, 0), synth_random_value(4, 4, 0));
}

TEST(Synth, PlantedOutliers) {
  TempDir dir;
  SynthOptions o = tiny(9);
  parse_outliers("6:20", o);
  EXPECT_EQ(o.outlier_dims, 6);
  EXPECT_FLOAT_EQ(o.outlier_scale, 20.0f);
  write_synthetic_model(o, dir.path());
  const std::vector<int> dims = synth_outlier_dims(9, 128, 6);
  ASSERT_EQ(dims.size(), 6u);
  EXPECT_EQ(std::set<int>(dims.begin(), dims.end()).size(), 6u);
  EXPECT_TRUE(std::is_sorted(dims.begin(), dims.end()));
  EXPECT_GE(dims.front(), 0);
  EXPECT_LT(dims.back(), 128);
  EXPECT_NE(synth_outlier_dims(10, 128, 6), dims);
  EXPECT_EQ(synth_outlier_dims(9, 128, 6), dims);

  auto f = SafetensorsFile::open(dir / "model.safetensors");
  for (int layer = 0; layer < 4; ++layer) {
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
      const TensorView* v = f->find(fmt::format("model.layers.{}.{}.weight", layer, norm));
      ASSERT_NE(v, nullptr);
      for (int i = 0; i < 128; ++i) {
        const bool outlier = std::binary_search(dims.begin(), dims.end(), i);
        ASSERT_EQ(v->at(i), outlier ? 20.0f : 1.0f) << norm << " dim " << i;
      }
    }
  }
  const TensorView* final_norm = f->find("model.norm.weight");
  for (int i = 0; i < 128; ++i) ASSERT_EQ(final_norm->at(i), 1.0f);

  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("outliers"), "6:20");
  EXPECT_EQ(f->metadata().at("seed"), "9");
  EXPECT_EQ(f->metadata().at("shape"), "tiny");
  const auto record = nlohmann::json::parse(std::ifstream(dir / "synthetic.json"));
  EXPECT_EQ(record.at("outlier_dims").get<std::vector<int>>(), dims);
  EXPECT_EQ(record.at("seed").get<uint64_t>(), 9u);
}

TEST(Synth, DtypesAndConfig) {
  for (DType d : {DType::F16, DType::BF16, DType::F32}) {
    TempDir dir;
    SynthOptions o = tiny(1);
    o.dtype = d;
    const ModelConfig c = write_synthetic_model(o, dir.path());
    EXPECT_EQ(c.dtype, d);
    EXPECT_EQ(load_config(dir.path()), c);
    auto f = SafetensorsFile::open(dir / "model.safetensors");
    EXPECT_EQ(f->find("lm_head.weight")->dtype, d);
    EXPECT_EQ(std::filesystem::file_size(dir / "model.safetensors") % 2, 0u);
  }
}

TEST(Synth, LeavesNoTemporaryFilesAndReplacesItsOwn) {
  TempDir dir;
  testing::write_file(dir / "notes.txt", std::string("keep me"));
  write_synthetic_model(tiny(1), dir.path());
  SynthOptions q;
  q.shape = "tiny-qwen2";
  write_synthetic_model(q, dir.path());
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"config.json", "model.safetensors", "notes.txt",
                                          "synthetic.json", "tokenizer.json",
                                          "tokenizer_config.json"}));
  EXPECT_EQ(load_config(dir.path()).arch, Arch::Qwen2);
}

// Text prompts work on synthetic models: a byte-level tokenizer over the model's vocabulary by
// default, or a copy of another model's tokenizer when its ids fit the embedding.
TEST(Synth, WritesATokenizer) {
  TempDir dir;
  write_synthetic_model(tiny(3), dir.path());
  const Tokenizer tok = load_tokenizer_for_model(dir.path());
  const std::string text = "Energy per token, h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c";
  const auto ids = tok.encode(text, false);
  ASSERT_FALSE(ids.empty());
  for (int32_t id : ids) EXPECT_LT(id, synth_shape("tiny").vocab_size);
  EXPECT_EQ(tok.decode(ids), text);

  TempDir copy;
  SynthOptions q = tiny(3);
  q.shape = "tiny-qwen2";
  q.tokenizer_from = dir.path();
  write_synthetic_model(q, copy.path());
  EXPECT_EQ(testing::read_file(copy / "tokenizer.json"), testing::read_file(dir / "tokenizer.json"));

  TempDir wide, out;
  write_byte_level_tokenizer(wide.path(), 1000);
  SynthOptions bad = tiny(3);
  bad.tokenizer_from = wide.path();
  EXPECT_THAT([&] { write_synthetic_model(bad, out.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("1000 ids")));
}

TEST(Synth, PublishedShapes) {
  const ModelConfig m = synth_shape("mistral-7b");
  EXPECT_EQ(m.arch, Arch::Mistral);
  EXPECT_EQ(m.hidden_size, 4096);
  EXPECT_EQ(m.intermediate_size, 14336);
  EXPECT_EQ(m.num_kv_heads, 8);
  const ModelConfig q = synth_shape("qwen2-1.5b");
  EXPECT_TRUE(q.tie_word_embeddings);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FLOAT_EQ(q.rope_theta, 1e6f);
  EXPECT_FALSE(synth_shape("qwen2.5-7b").tie_word_embeddings);
  EXPECT_FLOAT_EQ(synth_shape("yi-6b").rope_theta, 5e6f);
  EXPECT_EQ(synth_shape("phi3-mini").vocab_size, 32064);
  const auto names = synth_shape_names();
  for (const char* n : {"tiny", "qwen2-1.5b", "phi3-mini", "yi-6b", "mistral-7b", "qwen2.5-7b"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

TEST(Synth, BadOptions) {
  EXPECT_THAT([] { synth_shape("llama-70b"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown synthetic shape 'llama-70b'")));
  SynthOptions o;
  for (const char* bad : {"16", "x:2", "4:", "4:abc", "-1:3", "4:0", "4:-2", "4:inf", "4:2x"})
    EXPECT_THAT([&] { parse_outliers(bad, o); },
                ::testing::ThrowsMessage<Error>(HasSubstr("--outliers")))
        << bad;
  TempDir dir;
  SynthOptions big = tiny(0);
  big.outlier_dims = 129;  // more than hidden_size
  EXPECT_THAT([&] { write_synthetic_model(big, dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("hidden_size")));
  EXPECT_EQ(parse_synth_dtype("bf16"), DType::BF16);
  EXPECT_THROW(parse_synth_dtype("int8"), Error);
}

}  // namespace
}  // namespace eco::model
