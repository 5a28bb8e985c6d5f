#include "model/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/half.h"
#include "model/synth.h"
#include "model_test_util.h"

namespace eco::model {
namespace {

using ::testing::HasSubstr;
using testing::SafetensorsBuilder;
using testing::TempDir;

size_t tensor_index(const ModelConfig& c, const std::string& name) {
  const auto t = synth_tensors(c);
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i].name == name) return i;
  ADD_FAILURE() << "no tensor " << name;
  return 0;
}

TEST(Weights, SyntheticTinyRoundTrip) {
  TempDir dir;
  SynthOptions o;
  o.shape = "tiny";
  o.seed = 7;
  const ModelConfig written = write_synthetic_model(o, dir.path());
  const ModelWeights w = load_model(dir.path());
  EXPECT_EQ(w.config, written);
  EXPECT_EQ(w.config.dtype, DType::F16);
  const ModelConfig& c = w.config;
  ASSERT_EQ(w.layers.size(), 4u);
  EXPECT_EQ(w.embed.shape, (std::vector<int64_t>{512, 128}));
  EXPECT_EQ(w.lm_head.shape, (std::vector<int64_t>{512, 128}));
  EXPECT_NE(w.lm_head.data, w.embed.data);
  const LayerWeights& l = w.layers[2];
  EXPECT_EQ(l.wq.shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(l.wk.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(l.wv.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(l.wo.shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(l.w_gate.shape, (std::vector<int64_t>{352, 128}));
  EXPECT_EQ(l.w_up.shape, (std::vector<int64_t>{352, 128}));
  EXPECT_EQ(l.w_down.shape, (std::vector<int64_t>{128, 352}));
  EXPECT_TRUE(l.bq.empty());
  EXPECT_TRUE(l.bo.empty());
  // Values are what the writer's generator gives, rounded to fp16.
  const size_t embed_idx = tensor_index(c, "model.embed_tokens.weight");
  const size_t wk_idx = tensor_index(c, "model.layers.2.self_attn.k_proj.weight");
  // The scaled weights: k_proj's draws times its kind's std over the draw's (synth_plan.cpp).
  const SynthPlan plan = make_synth_plan(c, o);
  const float wk_factor = synth_row_std(plan, plan.tensors[wk_idx], 0) / kSynthWeightStd;
  for (int64_t i : {0, 1, 2, 777, 65535}) {
    EXPECT_EQ(w.embed.at(i), round_to_half(synth_random_value(7, embed_idx, uint64_t(i)))) << i;
    EXPECT_EQ(l.wk.at(i % l.wk.numel()),
              round_to_half(synth_random_value(7, wk_idx, uint64_t(i % l.wk.numel())) * wk_factor));
  }
  for (int64_t i = 0; i < 128; ++i) {
    ASSERT_EQ(l.attn_norm.at(i), 1.0f);
    ASSERT_EQ(w.final_norm.at(i), 1.0f);
  }
  const auto file_size = std::filesystem::file_size(dir / "model.safetensors");
  EXPECT_GT(file_size, w.stored_bytes());
  EXPECT_LT(file_size, w.stored_bytes() + 64 * 1024);  // the rest is the JSON header
  EXPECT_EQ(w.stored_bytes(), size_t(c.parameter_count()) * 2);
}

TEST(Weights, TiedEmbeddingsAndQwen2Bias) {
  TempDir dir;
  SynthOptions o;
  o.shape = "tiny-qwen2";
  write_synthetic_model(o, dir.path());
  const ModelWeights w = load_model(dir.path());
  EXPECT_TRUE(w.config.tie_word_embeddings);
  EXPECT_EQ(w.lm_head.data, w.embed.data);
  EXPECT_EQ(w.store->find("lm_head.weight"), nullptr);
  EXPECT_EQ(w.layers[0].bq.shape, (std::vector<int64_t>{128}));
  EXPECT_EQ(w.layers[0].bk.shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(w.layers[0].bv.shape, (std::vector<int64_t>{64}));
  EXPECT_TRUE(w.layers[0].bo.empty());
  EXPECT_NE(w.layers[3].bv.at(5), 0.0f);
  EXPECT_EQ(w.stored_bytes(), size_t(w.config.parameter_count()) * 2);
}

// A tiny Phi-3 written by hand: hidden 8, 2 heads of 4, 1 kv head, intermediate 6.
TEST(Weights, Phi3FusedProjectionsAreSplitIntoViews) {
  TempDir dir;
  nlohmann::json cfg = {{"model_type", "phi3"},
                        {"hidden_size", 8},
                        {"intermediate_size", 6},
                        {"num_hidden_layers", 1},
                        {"num_attention_heads", 2},
                        {"num_key_value_heads", 1},
                        {"vocab_size", 10},
                        {"max_position_embeddings", 32},
                        {"tie_word_embeddings", false}};
  testing::write_file(dir / "config.json", cfg.dump());
  SafetensorsBuilder b;
  b.add_ramp("model.embed_tokens.weight", DType::F32, {10, 8}, 0, 1);
  b.add_ramp("lm_head.weight", DType::F32, {10, 8}, 0, 1);
  b.add_ramp("model.norm.weight", DType::F32, {8}, 1, 0);
  b.add_ramp("model.layers.0.input_layernorm.weight", DType::F32, {8}, 1, 0);
  b.add_ramp("model.layers.0.post_attention_layernorm.weight", DType::F32, {8}, 1, 0);
  // q: 8 rows, k: 4 rows, v: 4 rows; element (r, col) = 1000 + 8 r + col.
  b.add_ramp("model.layers.0.self_attn.qkv_proj.weight", DType::F32, {16, 8}, 1000, 1);
  b.add_ramp("model.layers.0.self_attn.o_proj.weight", DType::F32, {8, 8}, 0, 1);
  // gate: 6 rows, up: 6 rows; element (r, col) = 2000 + 8 r + col.
  b.add_ramp("model.layers.0.mlp.gate_up_proj.weight", DType::F32, {12, 8}, 2000, 1);
  b.add_ramp("model.layers.0.mlp.down_proj.weight", DType::F32, {8, 6}, 0, 1);
  b.write(dir / "model.safetensors");

  const ModelWeights w = load_model(dir.path());
  const LayerWeights& l = w.layers.at(0);
  EXPECT_EQ(l.wq.shape, (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(l.wk.shape, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(l.wv.shape, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(l.w_gate.shape, (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(l.w_up.shape, (std::vector<int64_t>{6, 8}));
  EXPECT_FLOAT_EQ(l.wq.at(0), 1000);
  EXPECT_FLOAT_EQ(l.wq.at(63), 1063);
  EXPECT_FLOAT_EQ(l.wk.at(0), 1064);   // row 8
  EXPECT_FLOAT_EQ(l.wv.at(0), 1096);   // row 12
  EXPECT_FLOAT_EQ(l.wv.at(31), 1127);  // last element
  EXPECT_FLOAT_EQ(l.w_gate.at(47), 2047);
  EXPECT_FLOAT_EQ(l.w_up.at(0), 2048);  // row 6
  EXPECT_THAT(l.wk.name, HasSubstr("qkv_proj.weight[k]"));
  // Views share the mapped bytes: no copies.
  EXPECT_EQ(l.wk.data, l.wq.data + 8 * 8 * 4);
  EXPECT_EQ(l.w_up.data, l.w_gate.data + 6 * 8 * 4);
  EXPECT_EQ(w.stored_bytes(), size_t(w.config.parameter_count()) * 4);
}

TEST(Weights, SyntheticPhi3Loads) {
  TempDir dir;
  SynthOptions o;
  o.shape = "tiny-phi3";
  o.dtype = DType::BF16;
  write_synthetic_model(o, dir.path());
  const ModelWeights w = load_model(dir.path());
  EXPECT_EQ(w.config.arch, Arch::Phi3);
  EXPECT_EQ(w.embed.dtype, DType::BF16);
  EXPECT_EQ(w.layers[1].wv.shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(w.stored_bytes(), size_t(w.config.parameter_count()) * 2);
}

// Writes every tensor of `cfg` (F32 zeros), letting `edit` alter the header before writing.
void write_model(const TempDir& dir, const ModelConfig& cfg,
                 const std::function<void(SafetensorsBuilder&, const SynthTensor&)>& add) {
  testing::write_file(dir / "config.json", config_to_json(cfg));
  SafetensorsBuilder b;
  for (const auto& t : synth_tensors(cfg)) add(b, t);
  b.write(dir / "model.safetensors");
}

void add_normal(SafetensorsBuilder& b, const SynthTensor& t) {
  b.add_ramp(t.name, DType::F32, t.shape, 0, 0);
}

ModelConfig small_llama() {
  ModelConfig c = synth_shape("tiny");
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.head_dim = 4;
  c.vocab_size = 20;
  return c;
}

std::string load_error(const TempDir& dir) {
  try {
    load_model(dir.path());
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Weights, ShapeMismatchNamesFileTensorAndShapes) {
  TempDir dir;
  write_model(dir, small_llama(), [](SafetensorsBuilder& b, const SynthTensor& t) {
    if (t.name == "model.layers.1.self_attn.k_proj.weight") {
      b.add_ramp(t.name, DType::F32, {16, 16}, 0, 0);
    } else {
      add_normal(b, t);
    }
  });
  const std::string e = load_error(dir);
  EXPECT_THAT(e, HasSubstr("model.safetensors"));
  EXPECT_THAT(e, HasSubstr("tensor 'model.layers.1.self_attn.k_proj.weight' has shape [16, 16] "
                           "but config.json implies [8, 16]"));
}

TEST(Weights, MissingTensorAndBadDtype) {
  TempDir dir;
  write_model(dir, small_llama(), [](SafetensorsBuilder& b, const SynthTensor& t) {
    if (t.name != "model.layers.0.mlp.up_proj.weight") add_normal(b, t);
  });
  EXPECT_THAT(load_error(dir), HasSubstr("tensor 'model.layers.0.mlp.up_proj.weight' is missing"));

  TempDir dir2;
  write_model(dir2, small_llama(), [](SafetensorsBuilder& b, const SynthTensor& t) {
    add_normal(b, t);
    if (t.name == "model.norm.weight") b.header()[t.name]["dtype"] = "I32";  // same size as F32
  });
  EXPECT_THAT(load_error(dir2), HasSubstr("tensor 'model.norm.weight' has dtype I32"));
}

TEST(Weights, Qwen2MissingBiasIsAnError) {
  TempDir dir;
  ModelConfig c = small_llama();
  c.arch = Arch::Qwen2;
  c.model_type = "qwen2";
  c.qkv_bias = true;
  write_model(dir, c, [](SafetensorsBuilder& b, const SynthTensor& t) {
    if (t.name != "model.layers.1.self_attn.v_proj.bias") add_normal(b, t);
  });
  EXPECT_THAT(load_error(dir), HasSubstr("'model.layers.1.self_attn.v_proj.bias' is missing"));
}

TEST(Weights, LlamaAttentionBiasLoadsOProjBias) {
  TempDir dir;
  ModelConfig c = small_llama();
  c.qkv_bias = c.o_bias = true;
  write_model(dir, c, add_normal);
  const ModelWeights w = load_model(dir.path());
  EXPECT_EQ(w.layers[1].bo.shape, (std::vector<int64_t>{16}));
  EXPECT_EQ(w.layers[1].bq.shape, (std::vector<int64_t>{16}));
}

TEST(Weights, UntiedModelWithoutLmHead) {
  TempDir dir;
  write_model(dir, small_llama(), [](SafetensorsBuilder& b, const SynthTensor& t) {
    if (t.name != "lm_head.weight") add_normal(b, t);
  });
  EXPECT_THAT(load_error(dir), HasSubstr("'lm_head.weight' is missing"));
}

}  // namespace
}  // namespace eco::model
