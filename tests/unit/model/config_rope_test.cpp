// config.json as transformers 4.x (rope_theta + rope_scaling, torch_dtype) and 5.x
// (rope_parameters, dtype, layer_types) save it: RoPE variants, Qwen3, sliding-window layouts,
// and every refusal of a field the engines do not implement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/config.h"
#include "model/rope.h"
#include "model/synth.h"

namespace eco::model {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// hidden 64 over 4 heads: head_dim 16, so longrope lists have 8 entries.
json base(const std::string& type = "llama") {
  return {{"model_type", type},       {"hidden_size", 64},
          {"intermediate_size", 128}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 256},        {"max_position_embeddings", 512},
          {"rms_norm_eps", 1e-5},     {"rope_theta", 10000.0}};
}

json with(json j, const json& patch) {
  j.merge_patch(patch);  // a null value in the patch removes the key
  return j;
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

const json kLlama31Scaling = {{"factor", 8.0},
                              {"low_freq_factor", 1.0},
                              {"high_freq_factor", 4.0},
                              {"original_max_position_embeddings", 8192},
                              {"rope_type", "llama3"}};

TEST(ConfigRope, Llama3AsTransformers4SavesIt) {
  const ModelConfig c = parse(with(
      base(),
      {{"rope_theta", 500000.0}, {"rope_scaling", kLlama31Scaling}, {"torch_dtype", "bfloat16"}}));
  EXPECT_EQ(c.rope.type, RopeType::Llama3);
  EXPECT_EQ(c.rope.factor, 8.0);
  EXPECT_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_positions, 8192);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.dtype, DType::BF16);
}

TEST(ConfigRope, Llama3AsTransformers5SavesIt) {
  json params = kLlama31Scaling;
  params["rope_theta"] = 500000.0;
  const ModelConfig c = parse(
      with(base(), {{"rope_theta", nullptr}, {"rope_parameters", params}, {"dtype", "bfloat16"}}));
  EXPECT_EQ(c, parse(with(base(), {{"rope_theta", 500000.0},
                                   {"rope_scaling", kLlama31Scaling},
                                   {"torch_dtype", "bfloat16"}})));
  // A transformers 4 rope_scaling beside rope_parameters wins, as transformers 5 reads it.
  const ModelConfig both = parse(with(base(), {{"rope_parameters", {{"rope_type", "default"}}},
                                               {"rope_scaling", kLlama31Scaling}}));
  EXPECT_EQ(both.rope.type, RopeType::Llama3);
}

TEST(ConfigRope, Llama3NeedsItsFactors) {
  for (const char* key : {"factor", "low_freq_factor", "high_freq_factor"}) {
    json s = kLlama31Scaling;
    s.erase(key);
    const std::string e = error_of(with(base(), {{"rope_scaling", s}}));
    EXPECT_THAT(e, HasSubstr("dir/config.json (rope_scaling)"));
    EXPECT_THAT(e, HasSubstr(key));
  }
  json same = kLlama31Scaling;
  same["high_freq_factor"] = 1.0;
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", same}})),
              HasSubstr("high_freq_factor != low_freq_factor"));
  json negative = kLlama31Scaling;
  negative["factor"] = -2;
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", negative}})),
              HasSubstr("'factor' must be positive"));
  // Without original_max_position_embeddings transformers 5 takes max_position_embeddings.
  json no_original = kLlama31Scaling;
  no_original.erase("original_max_position_embeddings");
  EXPECT_EQ(parse(with(base(), {{"rope_scaling", no_original}})).rope.original_max_positions, 512);
}

TEST(ConfigRope, LinearAndDynamic) {
  const ModelConfig lin =
      parse(with(base(), {{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}}));
  EXPECT_EQ(lin.rope.type, RopeType::Linear);
  EXPECT_EQ(lin.rope.factor, 2.0);
  const ModelConfig dyn =
      parse(with(base(), {{"rope_scaling", {{"rope_type", "dynamic"}, {"factor", 4}}}}));
  EXPECT_EQ(dyn.rope.type, RopeType::Dynamic);
  EXPECT_EQ(dyn.rope.factor, 4.0);
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", {{"rope_type", "dynamic"}}}})),
              HasSubstr("dynamic needs the field 'factor'"));
  EXPECT_THAT(
      error_of(with(base(), {{"rope_scaling", {{"rope_type", "linear"}, {"factor", "2"}}}})),
      HasSubstr("'factor' must be a number"));
}

TEST(ConfigRope, YarnAsQwen25DocumentsIt) {
  // Qwen2.5's long-context recipe: factor 4 over a 32768-token pretraining context with
  // max_position_embeddings left at 32768. transformers 5 uses the explicit factor.
  const json scaling = {
      {"factor", 4.0}, {"original_max_position_embeddings", 32768}, {"type", "yarn"}};
  const ModelConfig c =
      parse(with(base("qwen2"), {{"max_position_embeddings", 32768}, {"rope_scaling", scaling}}));
  EXPECT_EQ(c.rope.type, RopeType::Yarn);
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_positions, 32768);
  EXPECT_EQ(c.rope.beta_fast, 32.0);
  EXPECT_EQ(c.rope.beta_slow, 1.0);
  EXPECT_TRUE(c.rope.truncate);
  EXPECT_EQ(c.rope.attention_factor, 0.0);  // derived: 0.1 ln 4 + 1
  EXPECT_NEAR(rope_table(c, 1).attention_scaling, 1.1386294, 1e-6);
}

TEST(ConfigRope, YarnOptionalFields) {
  const json scaling = {{"rope_type", "yarn"},     {"factor", 40},     {"beta_fast", 0},
                        {"beta_slow", 2},          {"mscale", 0.707},  {"mscale_all_dim", 0.707},
                        {"attention_factor", 1.5}, {"truncate", false}};
  const ModelConfig c = parse(with(base(), {{"rope_scaling", scaling}}));
  EXPECT_EQ(c.rope.beta_fast, 32.0);  // `or 32`: zero means the default
  EXPECT_EQ(c.rope.beta_slow, 2.0);
  EXPECT_EQ(c.rope.mscale, 0.707);
  EXPECT_EQ(c.rope.mscale_all_dim, 0.707);
  EXPECT_EQ(c.rope.attention_factor, 1.5);
  EXPECT_FALSE(c.rope.truncate);
  EXPECT_EQ(c.rope.original_max_positions, 512);  // none given: max_position_embeddings
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", {{"rope_type", "yarn"}}}})),
              HasSubstr("yarn needs the field 'factor'"));
  EXPECT_THAT(
      error_of(with(
          base(), {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 2}, {"truncate", "no"}}}})),
      HasSubstr("'truncate' must be true or false"));
}

json phi3_longrope(const std::string& type, int short_len = 8) {
  return with(base("phi3"), {{"max_position_embeddings", 512},
                             {"original_max_position_embeddings", 128},
                             {"rope_scaling",
                              {{"type", type},
                               {"short_factor", std::vector<double>(size_t(short_len), 1.5)},
                               {"long_factor", std::vector<double>(8, 3.0)}}}});
}

TEST(ConfigRope, LongRopeAsPhi3SavesIt) {
  const ModelConfig c = parse(phi3_longrope("longrope"));
  EXPECT_EQ(c.rope.type, RopeType::LongRope);
  EXPECT_EQ(c.rope.short_factor, std::vector<double>(8, 1.5));
  EXPECT_EQ(c.rope.long_factor, std::vector<double>(8, 3.0));
  EXPECT_EQ(c.rope.original_max_positions, 128);
  EXPECT_EQ(c.rope.factor, 4.0);  // 512 / 128
  // Phi-3's first 128k configs named it "su" (and "yarn"); Phi3Config maps both to longrope.
  EXPECT_EQ(parse(phi3_longrope("su")), c);
  EXPECT_EQ(parse(phi3_longrope("yarn")), c);
  EXPECT_THAT(error_of(phi3_longrope("longrope", 7)),
              HasSubstr("'short_factor' must be a list of 8 numbers (head_dim / 2), found 7"));
  json missing = phi3_longrope("longrope");
  missing["rope_scaling"].erase("long_factor");
  EXPECT_THAT(error_of(missing), HasSubstr("longrope needs the field 'long_factor'"));
  json bad = phi3_longrope("longrope");
  bad["rope_scaling"]["long_factor"][3] = -1;
  EXPECT_THAT(error_of(bad), HasSubstr("'long_factor' must hold positive numbers"));
}

TEST(ConfigRope, TopLevelOriginalContextWinsAsInTransformers5) {
  json j = phi3_longrope("longrope");
  j["rope_scaling"]["original_max_position_embeddings"] = 256;
  EXPECT_EQ(parse(j).rope.original_max_positions, 128);

  // Any other model_type: the scaling object's own value when there is none at top level, else
  // max_position_embeddings.
  j["model_type"] = "llama";
  j.erase("original_max_position_embeddings");
  j["rope_scaling"]["factor"] = 2.0;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.rope.original_max_positions, 256);
  EXPECT_EQ(c.rope.factor, 2.0);  // an explicit factor is used as given
  j["rope_scaling"].erase("original_max_position_embeddings");
  EXPECT_EQ(parse(j).rope.original_max_positions, 512);
}

// Phi3Config always has original_max_position_embeddings (4096 when config.json leaves it out),
// and standardize_rope_params puts it over the scaling object's own value.
TEST(ConfigRope, Phi3WithoutTopLevelOriginalContextTakesPhi3ConfigsDefault) {
  json j = phi3_longrope("longrope");
  j.erase("original_max_position_embeddings");
  j["rope_scaling"]["original_max_position_embeddings"] = 256;
  j["max_position_embeddings"] = 131072;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.rope.original_max_positions, 4096);
  EXPECT_EQ(c.rope.factor, 32.0);  // 131072 / 4096
  // Magnitude sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12) = 1.1902380714.
  EXPECT_NEAR(rope_table(c, 1).attention_scaling, 1.1902380714, 1e-6);
  // Short factors up to 4096 positions, long ones (3.0) from 4097 on: 1 / 3.0 for pair 0.
  EXPECT_FLOAT_EQ(rope_table(c, 4096).inv_freq[0], 1.0f / 1.5f);
  EXPECT_FLOAT_EQ(rope_table(c, 4097).inv_freq[0], 1.0f / 3.0f);
}

TEST(ConfigRope, Phi3AcceptsOnlyLongRope) {
  // Phi3Config.validate_rope refuses the other types: no Phi-3 checkpoint carries one.
  for (const char* type : {"linear", "dynamic"}) {
    EXPECT_THAT(error_of(with(base("phi3"), {{"rope_scaling", {{"type", type}, {"factor", 2.0}}}})),
                HasSubstr(std::string("type '") + type + "' is not valid for phi3"));
  }
  EXPECT_THAT(error_of(with(base("phi3"), {{"rope_scaling", kLlama31Scaling}})),
              HasSubstr("type 'llama3' is not valid for phi3"));
  EXPECT_EQ(parse(with(base("phi3"), {{"rope_parameters", {{"rope_type", "default"}}}})).rope.type,
            RopeType::Default);
}

TEST(ConfigRope, RefusesWhatTheEnginesDoNotImplement) {
  EXPECT_THAT(error_of(with(base(), {{"rope_parameters",
                                      {{"full_attention", {{"rope_type", "default"}}},
                                       {"sliding_attention", {{"rope_type", "default"}}}}}})),
              HasSubstr("one RoPE per layer type"));
  EXPECT_THAT(
      error_of(with(
          base(),
          {{"rope_parameters",
            {{"rope_type", "default"}, {"rope_theta", 1e4}, {"partial_rotary_factor", 0.75}}}})),
      HasSubstr("rope_parameters.partial_rotary_factor 0.75 is not supported"));
  EXPECT_THAT(error_of(with(base(), {{"rope_parameters", {{"rope_type", "proportional"}}}})),
              HasSubstr("rope_parameters type 'proportional' is not supported"));
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", {{"rope_type", 3}}}})),
              HasSubstr("'rope_scaling.rope_type' must be a string"));
  EXPECT_THAT(error_of(with(base(), {{"rope_scaling", {{"rope_type", "su"}}}})),
              HasSubstr("type 'su' is not supported"));  // "su" means longrope for Phi-3 only
  EXPECT_THAT(error_of(with(base(), {{"mlp_bias", true}})), HasSubstr("mlp_bias"));
  EXPECT_NO_THROW(parse(with(base(), {{"mlp_bias", false}, {"attention_bias", false}})));
}

TEST(ConfigRope, JsonRoundTripOfEveryRopeType) {
  const json cases[] = {
      with(base(), {{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}}),
      with(base(), {{"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}}),
      with(base(), {{"rope_scaling", kLlama31Scaling}}),
      with(base("qwen2"), {{"rope_scaling",
                            {{"type", "yarn"},
                             {"factor", 4.0},
                             {"mscale", 1.0},
                             {"mscale_all_dim", 0.5},
                             {"truncate", false},
                             {"original_max_position_embeddings", 64}}}}),
      phi3_longrope("longrope"),
  };
  for (const json& j : cases) {
    const ModelConfig c = parse(j);
    EXPECT_EQ(parse_config(config_to_json(c), "round trip"), c) << config_to_json(c);
  }
}

TEST(ConfigQwen3, DenseQwen3) {
  const ModelConfig c = parse(with(base("qwen3"), {{"head_dim", 32}}));
  EXPECT_EQ(c.arch, Arch::Qwen3);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.q_dim(), 128);  // head_dim * heads need not be hidden_size
  // Qwen3Config's head_dim default is 128, not hidden_size / heads.
  EXPECT_EQ(parse(base("qwen3")).head_dim, 128);
  const ModelConfig biased = parse(with(base("qwen3"), {{"attention_bias", true}}));
  EXPECT_TRUE(biased.qkv_bias);
  EXPECT_TRUE(biased.o_bias);
  // Two [head_dim] norm weights per layer on top of the Llama layout.
  ModelConfig plain = c;
  plain.qk_norm = false;
  EXPECT_EQ(c.parameter_count(), plain.parameter_count() + 2 * 2 * 32);
  EXPECT_EQ(parse_config(config_to_json(biased), "round trip"), biased);
}

TEST(ConfigQwen3, MixtureOfExpertsRefused) {
  for (const char* type : {"qwen3_moe", "qwen2_moe", "mixtral"}) {
    const std::string e = error_of(base(type));
    EXPECT_THAT(e, HasSubstr("mixture-of-experts"));
    EXPECT_THAT(e, HasSubstr("dir/config.json"));
  }
}

TEST(ConfigQwen3, LayerTypesDecideTheSlidingWindow) {
  const json on = {{"use_sliding_window", true}, {"sliding_window", 64}};
  auto types = [](const char* a, const char* b) { return json::array({a, b}); };
  for (const char* arch : {"qwen2", "qwen3"}) {
    SCOPED_TRACE(arch);
    const json b = with(base(arch), on);
    EXPECT_EQ(parse(with(b, {{"layer_types", types("sliding_attention", "sliding_attention")}}))
                  .sliding_window,
              64);
    EXPECT_EQ(
        parse(with(b, {{"layer_types", types("full_attention", "full_attention")}})).sliding_window,
        0);
    // Sliding layers without use_sliding_window: transformers has no window to apply.
    EXPECT_EQ(
        parse(with(base(arch), {{"sliding_window", 64},
                                {"layer_types", types("sliding_attention", "sliding_attention")}}))
            .sliding_window,
        0);
    EXPECT_THAT(error_of(with(b, {{"layer_types", types("full_attention", "sliding_attention")}})),
                HasSubstr("1 of 2 layers use sliding-window attention"));
    EXPECT_THAT(error_of(with(b, {{"max_window_layers", 1}})),
                HasSubstr("a mix of sliding and full-attention layers is not supported"));
    EXPECT_THAT(error_of(with(b, {{"layer_types", types("full_attention", "linear_attention")}})),
                HasSubstr("layer_types[1] is 'linear_attention'"));
    EXPECT_THAT(error_of(with(b, {{"layer_types", json::array({"full_attention"})}})),
                HasSubstr("one entry per layer (2)"));
  }
  // Llama has no sliding window: its attention ignores layer_types and sliding_window.
  EXPECT_EQ(parse(with(base(), {{"sliding_window", 64},
                                {"layer_types", types("sliding_attention", "full_attention")}}))
                .sliding_window,
            0);
}

TEST(ConfigQwen3, SlidingWindowRoundTrip) {
  for (const char* arch : {"qwen2", "qwen3"}) {
    const ModelConfig c = parse(
        with(base(arch),
             {{"use_sliding_window", true}, {"sliding_window", 64}, {"max_window_layers", 0}}));
    ASSERT_EQ(c.sliding_window, 64) << arch;
    EXPECT_EQ(parse_config(config_to_json(c), arch), c) << config_to_json(c);
  }
}

TEST(ConfigQwen3, DtypeFieldOfEitherVersion) {
  EXPECT_EQ(parse(with(base("qwen3"), {{"torch_dtype", "bfloat16"}})).dtype, DType::BF16);
  EXPECT_EQ(parse(with(base("qwen3"), {{"dtype", "float16"}})).dtype, DType::F16);
  EXPECT_EQ(parse(base("qwen3")).dtype, DType::F32);
  EXPECT_THAT(error_of(with(base("qwen3"), {{"dtype", "float8_e4m3fn"}})),
              HasSubstr("field 'dtype' is 'float8_e4m3fn'"));
}

// The study's models and the current mainstream ones: parameter counts as published for each
// checkpoint, and the features that set them apart.
TEST(ConfigShapes, StudyAndMainstreamShapes) {
  EXPECT_EQ(synth_shape("tinyllama-1.1b").parameter_count(), 1100048384);
  EXPECT_EQ(synth_shape("qwen2.5-3b").parameter_count(), 3085938688);
  EXPECT_EQ(synth_shape("qwen2-7b").parameter_count(), 7615616512);
  EXPECT_EQ(synth_shape("llama-3.1-8b").parameter_count(), 8030261248);
  EXPECT_EQ(synth_shape("qwen3-8b").parameter_count(), 8190735360);
  const ModelConfig llama = synth_shape("llama-3.1-8b");
  EXPECT_EQ(llama.rope.type, RopeType::Llama3);
  EXPECT_EQ(llama.rope.original_max_positions, 8192);
  const ModelConfig qwen3 = synth_shape("qwen3-8b");
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_FALSE(qwen3.qkv_bias);
  EXPECT_EQ(qwen3.head_dim, 128);
  EXPECT_TRUE(synth_shape("qwen2.5-3b").tie_word_embeddings);
  EXPECT_EQ(synth_shape("tiny-qwen3").q_dim(), 256);
  // What synth writes reads back the same (rope_scaling, head_dim, attention_bias included).
  for (const char* name : {"llama-3.1-8b", "qwen3-8b", "tiny-qwen3"})
    EXPECT_EQ(parse_config(config_to_json(synth_shape(name)), name), synth_shape(name)) << name;
}

}  // namespace
}  // namespace eco::model
