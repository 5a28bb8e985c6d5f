#include "model/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/synth.h"
#include "model_test_util.h"

namespace eco::model {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

json base(const std::string& type = "llama") {
  return {{"model_type", type},       {"hidden_size", 64},
          {"intermediate_size", 128}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 256},        {"max_position_embeddings", 512},
          {"rms_norm_eps", 1e-5},     {"rope_theta", 10000.0}};
}

ModelConfig parse(const json& j) {
  return parse_config(j.dump(), "dir/config.json");
}

std::string error_of(const json& j) {
  try {
    parse(j);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

json with(json j, const json& patch) {
  j.merge_patch(patch);  // a null value in the patch removes the key
  return j;
}

TEST(Config, LlamaFields) {
  const ModelConfig c = parse(base());
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.q_dim(), 64);
  EXPECT_EQ(c.kv_dim(), 32);
  EXPECT_EQ(c.vocab_size, 256);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_EQ(c.sliding_window, 0);
}

TEST(Config, KvHeadsDefaultToHeads) {
  const ModelConfig c = parse(with(base(), {{"num_key_value_heads", nullptr}}));
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.kv_dim(), 64);
}

TEST(Config, RopeThetaUnderRopeParameters) {
  const json j =
      with(base(), {{"rope_theta", nullptr},
                    {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 5e5}}}});
  EXPECT_FLOAT_EQ(parse(j).rope_theta, 500000.0f);
  // rope_parameters without a type, theta at top level.
  const json k = with(base(), {{"rope_theta", 1e6}, {"rope_parameters", json::object()}});
  EXPECT_FLOAT_EQ(parse(k).rope_theta, 1e6f);
}

TEST(Config, RopeThetaDefaultsWhenAbsent) {
  EXPECT_FLOAT_EQ(parse(with(base(), {{"rope_theta", nullptr}})).rope_theta, 10000.0f);
}

TEST(Config, RopeParametersWithoutThetaRejected) {
  const json k = with(base(), {{"rope_theta", nullptr}, {"rope_parameters", json::object()}});
  EXPECT_THAT(error_of(k), HasSubstr("rope_theta"));
}

TEST(Config, RopeScaling) {
  EXPECT_NO_THROW(parse(with(base(), {{"rope_scaling", nullptr}})));
  json j = base();
  j["rope_scaling"] = nullptr;  // explicit null, as transformers writes it
  EXPECT_NO_THROW(parse(j));
  EXPECT_NO_THROW(parse(with(base(), {{"rope_scaling", {{"rope_type", "default"}}}})));
  EXPECT_EQ(
      parse(with(base(), {{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}})).rope.type,
      RopeType::Linear);
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", {{"rope_type", "ntk-by-parts"}}}})),
              HasSubstr("rope_scaling type 'ntk-by-parts' is not supported"));
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", "yarn"}})), HasSubstr("rope_scaling"));
}

TEST(Config, HeadDim) {
  const ModelConfig c = parse(with(base(), {{"head_dim", 32}}));
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 64);
  json j = base();
  j["head_dim"] = nullptr;  // Mistral configs write null
  EXPECT_EQ(parse(j).head_dim, 16);
  // With head_dim given, hidden_size need not divide by the heads.
  EXPECT_EQ(parse(with(base(), {{"hidden_size", 66}, {"head_dim", 16}})).hidden_size, 66);
}

TEST(Config, TiedEmbeddings) {
  EXPECT_TRUE(parse(with(base(), {{"tie_word_embeddings", true}})).tie_word_embeddings);
  EXPECT_FALSE(parse(with(base(), {{"tie_word_embeddings", false}})).tie_word_embeddings);
  EXPECT_THAT(error_of(with(base(), {{"tie_word_embeddings", "yes"}})),
              HasSubstr("'tie_word_embeddings' must be true or false"));
}

TEST(Config, Biases) {
  const ModelConfig q = parse(base("qwen2"));
  EXPECT_EQ(q.arch, Arch::Qwen2);
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FALSE(q.o_bias);
  const ModelConfig l = parse(with(base(), {{"attention_bias", true}}));
  EXPECT_TRUE(l.qkv_bias);
  EXPECT_TRUE(l.o_bias);
  EXPECT_FALSE(parse(base("mistral")).qkv_bias);
  EXPECT_FALSE(parse(base("phi3")).qkv_bias);
  EXPECT_THAT(error_of(with(base(), {{"mlp_bias", true}})), HasSubstr("mlp_bias"));
}

TEST(Config, TokenIds) {
  const ModelConfig a = parse(with(base(), {{"bos_token_id", 1}, {"eos_token_id", 2}}));
  EXPECT_EQ(a.bos_token_id, 1);
  EXPECT_EQ(a.eos_token_ids, (std::vector<int>{2}));
  const ModelConfig b = parse(with(base(), {{"eos_token_id", {128001, 128008, 128009}}}));
  EXPECT_EQ(b.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
  json j = base();
  j["eos_token_id"] = nullptr;
  j["bos_token_id"] = nullptr;
  EXPECT_TRUE(parse(j).eos_token_ids.empty());
  EXPECT_EQ(parse(j).bos_token_id, -1);
  EXPECT_THAT(error_of(with(base(), {{"eos_token_id", "2"}})), HasSubstr("'eos_token_id'"));
  EXPECT_THAT(error_of(with(base(), {{"bos_token_id", {1, 2}}})), HasSubstr("bos_token_id"));
}

TEST(Config, Dtype) {
  EXPECT_EQ(parse(with(base(), {{"torch_dtype", "float16"}})).dtype, DType::F16);
  EXPECT_EQ(parse(with(base(), {{"torch_dtype", "bfloat16"}})).dtype, DType::BF16);
  EXPECT_EQ(parse(with(base(), {{"torch_dtype", "float32"}})).dtype, DType::F32);
  EXPECT_EQ(parse(with(base(), {{"dtype", "bfloat16"}})).dtype, DType::BF16);
  EXPECT_EQ(parse(with(base(), {{"torch_dtype", "torch.float16"}})).dtype, DType::F16);
  EXPECT_THAT(error_of(with(base(), {{"torch_dtype", "int8"}})),
              HasSubstr("field 'torch_dtype' is 'int8'"));
  EXPECT_THAT(error_of(with(base(), {{"dtype", 16}})), HasSubstr("'dtype' must be a string"));
}

TEST(Config, MissingRequiredFieldIsNamed) {
  for (const char* field : {"model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "vocab_size", "max_position_embeddings"}) {
    EXPECT_THAT(error_of(with(base(), {{field, nullptr}})),
                HasSubstr(fmt::format("required field '{}' is missing", field)))
        << field;
  }
  EXPECT_THAT(error_of(with(base(), {{"hidden_size", nullptr}})), HasSubstr("dir/config.json"));
}

TEST(Config, WrongTypesAreNamed) {
  EXPECT_THAT(error_of(with(base(), {{"hidden_size", "64"}})),
              HasSubstr("'hidden_size' must be an integer, found string"));
  EXPECT_THAT(error_of(with(base(), {{"num_hidden_layers", 2.5}})),
              HasSubstr("'num_hidden_layers' must be an integer"));
  EXPECT_THAT(error_of(with(base(), {{"rms_norm_eps", "small"}})),
              HasSubstr("'rms_norm_eps' must be a number"));
  EXPECT_THAT(error_of(with(base(), {{"vocab_size", 1e300}})), HasSubstr("'vocab_size'"));
  EXPECT_THAT(error_of(with(base(), {{"vocab_size", 99999999999}})), HasSubstr("too large"));
  EXPECT_THAT(error_of(with(base(), {{"model_type", 3}})),
              HasSubstr("'model_type' must be a string"));
}

TEST(Config, UnsupportedModelTypeListsSupported) {
  const std::string e = error_of(with(base(), {{"model_type", "gpt2"}}));
  EXPECT_THAT(e, HasSubstr("model_type 'gpt2' is not supported"));
  EXPECT_THAT(e, HasSubstr("llama, mistral, qwen2, qwen3, phi3"));
}

TEST(Config, InconsistentSizes) {
  EXPECT_THAT(error_of(with(base(), {{"hidden_size", 66}})),
              HasSubstr("hidden_size 66 is not divisible by num_attention_heads 4"));
  EXPECT_THAT(error_of(with(base(), {{"num_key_value_heads", 3}})),
              HasSubstr("num_attention_heads 4 is not divisible by num_key_value_heads 3"));
  for (const char* field :
       {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "max_position_embeddings", "head_dim"}) {
    EXPECT_THAT(error_of(with(base(), {{field, 0}})),
                HasSubstr(fmt::format("'{}' must be positive", field)))
        << field;
    EXPECT_THAT(error_of(with(base(), {{field, -4}})), HasSubstr("must be positive")) << field;
  }
  EXPECT_THAT(error_of(with(base(), {{"rms_norm_eps", 0}})), HasSubstr("rms_norm_eps"));
  EXPECT_THAT(error_of(with(base(), {{"rope_theta", -1}})), HasSubstr("rope_theta"));
  EXPECT_THAT(error_of(with(base(), {{"hidden_size", 1 << 24}, {"head_dim", 16}})),
              HasSubstr("implausibly large"));
}

TEST(Config, Phi3) {
  const ModelConfig c =
      parse(with(base("phi3"), {{"rms_norm_eps", nullptr}, {"sliding_window", 2047}}));
  EXPECT_EQ(c.arch, Arch::Phi3);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);  // Phi3Config's default
  EXPECT_EQ(c.sliding_window, 2047);
  EXPECT_TRUE(c.fits_context(2047));
  EXPECT_FALSE(c.fits_context(2048));
  EXPECT_THAT(error_of(with(base("phi3"), {{"partial_rotary_factor", 0.5}})),
              HasSubstr("partial_rotary_factor 0.5 is not supported"));
  EXPECT_NO_THROW(parse(with(base("phi3"), {{"partial_rotary_factor", 1.0}})));
}

TEST(Config, SlidingWindow) {
  EXPECT_EQ(parse(with(base("mistral"), {{"sliding_window", 4096}})).sliding_window, 4096);
  json j = base("mistral");
  j["sliding_window"] = nullptr;
  EXPECT_EQ(parse(j).sliding_window, 0);
  EXPECT_TRUE(parse(j).fits_context(1 << 30));
  // Qwen2 declares a window but uses it only with use_sliding_window.
  EXPECT_EQ(parse(with(base("qwen2"), {{"sliding_window", 4096}, {"use_sliding_window", false}}))
                .sliding_window,
            0);
  // With use_sliding_window, the layers from max_window_layers on (default 28) use it.
  EXPECT_EQ(parse(with(base("qwen2"), {{"sliding_window", 4096}, {"use_sliding_window", true}}))
                .sliding_window,
            0);
  EXPECT_EQ(parse(with(base("qwen2"), {{"sliding_window", 4096},
                                       {"use_sliding_window", true},
                                       {"max_window_layers", 0}}))
                .sliding_window,
            4096);
  EXPECT_THAT(error_of(with(base("mistral"), {{"sliding_window", -1}})),
              HasSubstr("sliding_window"));
}

TEST(Config, MalformedDocuments) {
  auto err = [](const std::string& text) {
    try {
      parse_config(text, "x/config.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_THAT(err("{\"model_type\": "), HasSubstr("x/config.json: not valid JSON"));
  EXPECT_THAT(err("[1, 2]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(err(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(with(base(), {{"quantization_config", {{"quant_method", "gptq"}}}})),
              HasSubstr("pre-quantized"));
  EXPECT_THAT(error_of(with(base(), {{"hidden_act", "gelu"}})), HasSubstr("hidden_act 'gelu'"));
}

TEST(Config, ParameterCountByHand) {
  const ModelConfig c = parse(base());
  // embed 256*64, lm_head 256*64, final norm 64; per layer: norms 128, q 64*64, k,v 2*32*64,
  // o 64*64, mlp 3*64*128.
  const int64_t per_layer = 128 + 4096 + 4096 + 4096 + 3 * 8192;
  EXPECT_EQ(c.parameter_count(), 2 * 256 * 64 + 64 + 2 * per_layer);
  const ModelConfig tied = parse(with(base("qwen2"), {{"tie_word_embeddings", true}}));
  EXPECT_EQ(tied.parameter_count(), 256 * 64 + 64 + 2 * (per_layer + 64 + 32 + 32));
}

TEST(Config, ParameterCountsOfPublishedShapes) {
  // Counts reported for the published checkpoints.
  EXPECT_EQ(synth_shape("mistral-7b").parameter_count(), 7241732096);
  EXPECT_EQ(synth_shape("phi3-mini").parameter_count(), 3821079552);
  EXPECT_EQ(synth_shape("qwen2.5-7b").parameter_count(), 7615616512);
  EXPECT_EQ(synth_shape("qwen2-1.5b").parameter_count(), 1543714304);
  EXPECT_EQ(synth_shape("yi-6b").parameter_count(), 6061035520);
}

TEST(Config, JsonRoundTripForEveryShape) {
  for (const auto& name : synth_shape_names()) {
    ModelConfig c = synth_shape(name);
    for (DType d : {DType::F16, DType::BF16, DType::F32}) {
      c.dtype = d;
      const std::string text = config_to_json(c);
      EXPECT_EQ(parse_config(text, name), c) << name << "\n" << text;
    }
  }
  ModelConfig biased = parse(with(base(), {{"attention_bias", true}, {"eos_token_id", {2, 3}}}));
  EXPECT_EQ(parse_config(config_to_json(biased), "llama"), biased);
}

TEST(Config, LoadConfigNamesTheFile) {
  testing::TempDir dir;
  try {
    load_config(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir.path() / "config.json").string()));
  }
  testing::write_file(dir / "config.json", base().dump());
  EXPECT_EQ(load_config(dir.path()).hidden_size, 64);
}

}  // namespace
}  // namespace eco::model
