#include "model/synth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/half.h"
#include "model/resolve.h"
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

// Every element equals the single-threaded generator's value times its kind's std factor: the
// output cannot depend on how the parallel writer split the work.
TEST(Synth, EveryElementMatchesTheCounterBasedGenerator) {
  TempDir dir;
  write_synthetic_model(tiny(5), dir.path());
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  const SynthPlan plan = make_synth_plan(synth_shape("tiny"), tiny(5));
  const auto& tensors = plan.tensors;
  ASSERT_EQ(f->tensors().size(), tensors.size());
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TensorView* v = f->find(tensors[t].name);
    ASSERT_NE(v, nullptr) << tensors[t].name;
    ASSERT_EQ(v->shape, tensors[t].shape);
    ASSERT_EQ(v->dtype, DType::F16);
    const int64_t cols = v->shape.back();
    for (int64_t i = 0; i < v->numel(); ++i) {
      const float factor = synth_row_std(plan, tensors[t], i / cols) / kSynthWeightStd;
      const float expect = tensors[t].kind == SynthTensor::Kind::Random
                               ? round_to_half(synth_random_value(5, t, uint64_t(i)) * factor)
                               : 1.0f;
      ASSERT_EQ(v->at(i), expect) << tensors[t].name << " element " << i;
    }
  }
}

// With planted outliers (fused Phi-3 matrices included), the file equals the plan computed one
// element at a time, so row pieces split across work units get the same edits.
TEST(Synth, PlantedWeightsDoNotDependOnTheWorkSplit) {
  TempDir dir;
  SynthOptions o = tiny(8);
  o.shape = "tiny-phi3";
  parse_outliers("5:12", o);
  o.dtype = DType::F32;
  write_synthetic_model(o, dir.path());
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  const SynthPlan plan = make_synth_plan(synth_shape("tiny-phi3"), o);
  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    const TensorView* v = f->find(plan.tensors[t].name);
    ASSERT_NE(v, nullptr);
    for (int64_t i = 0; i < v->numel(); i += 7) {  // every 7th: odd offsets and row ends
      float one = 0;
      synth_fill(plan, t, uint64_t(i), 1, &one);
      ASSERT_EQ(v->at(i), one) << plan.tensors[t].name << " element " << i;
    }
  }
}

// Each matrix kind's realised std is the one the variance algebra asks for (synth_plan.cpp):
// q/k 1/sqrt(hidden), v 0.5/sqrt(hidden), gate 1/sqrt(hidden), up 0.2/sqrt(hidden).
TEST(Synth, ScaledStdPerMatrixKind) {
  TempDir dir;
  write_synthetic_model(tiny(2), dir.path());
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  const ModelConfig c = synth_shape("tiny");
  const SynthPlan plan = make_synth_plan(c, tiny(2));
  const double h = c.hidden_size;
  const std::vector<std::pair<std::string, double>> want = {
      {"model.layers.1.self_attn.q_proj.weight", 1.0 / std::sqrt(h)},
      {"model.layers.1.self_attn.k_proj.weight", 1.0 / std::sqrt(h)},
      {"model.layers.1.self_attn.v_proj.weight", 0.5 / std::sqrt(h)},
      {"model.layers.1.mlp.gate_proj.weight", 1.0 / std::sqrt(h)},
      {"model.layers.1.mlp.up_proj.weight", 0.2 / std::sqrt(h)},
      {"model.layers.1.self_attn.o_proj.weight", -1},
      {"model.layers.1.mlp.down_proj.weight", -1},
      {"model.embed_tokens.weight", kSynthWeightStd},
      {"lm_head.weight", kSynthWeightStd}};
  for (const auto& [name, sd_formula] : want) {
    const TensorView* v = f->find(name);
    ASSERT_NE(v, nullptr) << name;
    double sq = 0;
    for (int64_t i = 0; i < v->numel(); ++i) sq += double(v->at(i)) * v->at(i);
    const double sd = std::sqrt(sq / double(v->numel()));
    size_t ti = 0;
    while (plan.tensors[ti].name != name) ++ti;
    const double planned = synth_row_std(plan, plan.tensors[ti], 0);
    EXPECT_NEAR(sd, planned, 0.03 * planned) << name;
    if (sd_formula > 0) {
      EXPECT_NEAR(planned, sd_formula, 1e-6 * sd_formula) << name;
    }
  }
  // o and down feed the residual: each adds at most sigma_E^2 / (2 L) of variance, o for a
  // v of std 0.5, down for silu(g) * u with g ~ N(0, 1), u ~ N(0, 0.2^2) (E[silu(g)^2] = 0.3558).
  size_t o_idx = 0, down_idx = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    if (plan.tensors[i].role == SynthTensor::Role::O) o_idx = i;
    if (plan.tensors[i].role == SynthTensor::Role::Down) down_idx = i;
  }
  const double tau = kSynthWeightStd / std::sqrt(2.0 * c.num_layers);
  EXPECT_NEAR(synth_row_std(plan, plan.tensors[o_idx], 0), tau / (0.5 * std::sqrt(h)), 1e-7);
  EXPECT_NEAR(synth_row_std(plan, plan.tensors[down_idx], 0),
              tau / (0.2 * std::sqrt(0.3558) * std::sqrt(double(c.intermediate_size))), 1e-6);
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

TEST(Synth, PlantedOutliersLegacy) {
  TempDir dir;
  SynthOptions o = tiny(9);
  parse_outliers("6:20", o);
  o.weights = parse_synth_weights("legacy");
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
  // Legacy random tensors are the plain draws (std 0.02).
  const auto tensors = synth_tensors(synth_shape("tiny"));
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].kind != SynthTensor::Kind::Random) continue;
    const TensorView* v = f->find(tensors[t].name);
    for (int64_t i : {int64_t(0), int64_t(131), v->numel() - 1})
      ASSERT_EQ(v->at(i), round_to_half(synth_random_value(9, t, uint64_t(i)))) << tensors[t].name;
  }
  const TensorView* final_norm = f->find("model.norm.weight");
  for (int i = 0; i < 128; ++i) ASSERT_EQ(final_norm->at(i), 1.0f);

  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("outliers"), "6:20");
  EXPECT_EQ(f->metadata().at("seed"), "9");
  EXPECT_EQ(f->metadata().at("shape"), "tiny");
  EXPECT_EQ(f->metadata().at("weights"), "legacy");
  const auto record = nlohmann::json::parse(std::ifstream(dir / "synthetic.json"));
  EXPECT_EQ(record.at("outlier_dims").get<std::vector<int>>(), dims);
  EXPECT_EQ(record.at("seed").get<uint64_t>(), 9u);
  EXPECT_EQ(record.at("weights"), "legacy");
  EXPECT_TRUE(record.at("outlier_columns").at("down").empty());
}

// The scaled plan's planted structure, element by element (see synth_plan.cpp).
TEST(Synth, PlantedOutliersScaled) {
  TempDir dir;
  SynthOptions o = tiny(9);
  parse_outliers("6:20", o);
  o.dtype = DType::F32;
  write_synthetic_model(o, dir.path());
  const ModelConfig c = synth_shape("tiny");
  const SynthPlan p = make_synth_plan(c, o);
  const std::vector<int> dims = synth_outlier_dims(9, 128, 6);
  ASSERT_EQ(p.dims, dims);
  ASSERT_EQ(p.signs.size(), 6u);
  const int group = c.num_heads / c.num_kv_heads;  // 2
  ASSERT_EQ(p.v_channels.size(), 3u);              // ceil(6 / 2)
  ASSERT_EQ(p.down_channels.size(), 6u);
  EXPECT_EQ(p.columns.hidden, dims);
  EXPECT_EQ(p.columns.attn.size(), size_t(group) * 3);
  EXPECT_EQ(p.columns.mlp.size(), 6u);
  EXPECT_EQ(std::set<int>(p.columns.mlp.begin(), p.columns.mlp.end()).size(), 6u);
  for (int e : p.v_channels) {  // every query head of the group reads the planted v channel
    const int kvh = e / c.head_dim;
    for (int h = kvh * group; h < (kvh + 1) * group; ++h)
      EXPECT_TRUE(std::binary_search(p.columns.attn.begin(), p.columns.attn.end(),
                                     h * c.head_dim + e % c.head_dim));
  }

  auto f = SafetensorsFile::open(dir / "model.safetensors");
  auto at = [&](const std::string& name, int64_t r, int64_t col) {
    const TensorView* v = f->find(name);
    EXPECT_NE(v, nullptr) << name;
    return v->at(r * v->shape.back() + col);
  };
  // Norm gains at the planted dims: SCALE x residual RMS / sigma_E, growing with depth.
  float last = 0;
  for (int layer = 0; layer < 4; ++layer) {
    const std::string pre = fmt::format("model.layers.{}.", layer);
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
      const float g = at(pre + norm + ".weight", 0, dims[0]);
      EXPECT_GE(g, 20.0f);
      EXPECT_LT(g, 20.0f * 1.5f);
      EXPECT_GT(g, last);
      last = g;
      for (int i = 0; i < 128; ++i) {
        if (!std::binary_search(dims.begin(), dims.end(), i)) {
          ASSERT_EQ(at(pre + norm + ".weight", 0, i), 1.0f);
        }
      }
    }
    // Rows of the planted dims in o_proj / down_proj damped 16x; their input columns that read
    // planted columns divided by SCALE.
    for (const char* name : {"self_attn.o_proj.weight", "mlp.down_proj.weight"}) {
      size_t ti = 0;
      while (p.tensors[ti].name != pre + name) ++ti;
      const std::vector<int>& cols =
          p.tensors[ti].role == SynthTensor::Role::O ? p.columns.attn : p.columns.mlp;
      const int64_t width = p.tensors[ti].shape[1];
      const float factor = synth_row_std(p, p.tensors[ti], 0) / kSynthWeightStd;
      for (int64_t r : {int64_t(dims[1]), int64_t(dims[1] == 0 ? 1 : 0)}) {
        for (int col : {cols[0], cols[0] == 0 ? 1 : 0}) {
          float want = synth_random_value(9, ti, uint64_t(r * width + col)) * factor;
          if (col == cols[0]) want /= 20.0f;
          if (r == dims[1]) want *= 1.0f / 16.0f;
          EXPECT_FLOAT_EQ(at(pre + name, r, col), want) << name << " row " << r << " col " << col;
        }
      }
    }
  }
  const std::string l2 = "model.layers.2.";
  const size_t up_idx = [&] {
    for (size_t i = 0; i < p.tensors.size(); ++i)
      if (p.tensors[i].name == l2 + "mlp.up_proj.weight") return i;
    return size_t(0);
  }();
  const float up_factor = synth_row_std(p, p.tensors[up_idx], 0) / kSynthWeightStd;
  for (size_t j = 0; j < dims.size(); ++j) {
    const int d = dims[j], ch = p.down_channels[j];
    const float s = p.signs[j];
    // Embedding column d: s * 0.02 within +-25 %.
    for (int64_t tok : {0, 17, 511}) {
      const float e = at("model.embed_tokens.weight", tok, d);
      EXPECT_GE(e * s, 0.02f * 0.75f);
      EXPECT_LE(e * s, 0.02f * 1.25f);
    }
    // The planted channel: gate 6 s / SCALE, up s / silu(6) at column d.
    EXPECT_FLOAT_EQ(at(l2 + "mlp.gate_proj.weight", ch, d), s * 6.0f / 20.0f);
    EXPECT_FLOAT_EQ(at(l2 + "mlp.up_proj.weight", ch, d), s / (6.0f / (1.0f + std::exp(-6.0f))));
    // Another up row reads column d with its draw divided by SCALE.
    const int row = ch == 0 ? 1 : 0;
    const float drawn = synth_random_value(9, up_idx, uint64_t(row) * 128 + uint64_t(d));
    EXPECT_FLOAT_EQ(at(l2 + "mlp.up_proj.weight", row, d), drawn * up_factor / 20.0f);
    if (j < p.v_channels.size()) {
      EXPECT_FLOAT_EQ(at(l2 + "self_attn.v_proj.weight", p.v_channels[j], d), s);
    }
  }
  const auto record = nlohmann::json::parse(std::ifstream(dir / "synthetic.json"));
  EXPECT_EQ(record.at("weights"), "scaled");
  EXPECT_EQ(record.at("outlier_columns").at("o").get<std::vector<int>>(), p.columns.attn);
  EXPECT_EQ(record.at("outlier_columns").at("down").get<std::vector<int>>(), p.columns.mlp);
  EXPECT_EQ(record.at("outlier_columns").at("q_k_v_gate_up").get<std::vector<int>>(), dims);
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
  EXPECT_EQ(names,
            (std::set<std::string>{"config.json", "model.safetensors", "notes.txt",
                                   "synthetic.json", "tokenizer.json", "tokenizer_config.json"}));
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
  EXPECT_EQ(testing::read_file(copy / "tokenizer.json"),
            testing::read_file(dir / "tokenizer.json"));

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

// A cached synthetic model is reused only with the same weight plan; models cached before the
// plans existed (no "weights" in synthetic.json) count as legacy.
TEST(Synth, WeightPlanIsPartOfTheCacheIdentity) {
  const SynthOptions legacy = parse_synthetic_spec("synthetic:tiny?weights=legacy&seed=2");
  EXPECT_EQ(legacy.weights, SynthWeights::Legacy);
  EXPECT_EQ(synthetic_cache_name(legacy), "tiny-s2-legacy");
  const SynthOptions scaled = parse_synthetic_spec("synthetic:tiny?seed=2");
  EXPECT_EQ(synthetic_cache_name(scaled), "tiny-s2");
  TempDir dir;
  write_synthetic_model(legacy, dir.path());
  EXPECT_TRUE(synthetic_model_complete(dir.path(), legacy));
  EXPECT_FALSE(synthetic_model_complete(dir.path(), scaled));
  auto record = nlohmann::json::parse(std::ifstream(dir / "synthetic.json"));
  record.erase("weights");
  testing::write_file(dir / "synthetic.json", record.dump());
  EXPECT_TRUE(synthetic_model_complete(dir.path(), legacy));
  EXPECT_FALSE(synthetic_model_complete(dir.path(), scaled));
  EXPECT_THAT([] { parse_synthetic_spec("synthetic:tiny?weights=old"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("--weights 'old'")));
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
  EXPECT_EQ(parse_synth_weights("legacy"), SynthWeights::Legacy);
  EXPECT_THAT([] { parse_synth_weights("uniform"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("--weights 'uniform'")));
  // More planted dimensions than the MLP has channels.
  ModelConfig narrow = synth_shape("tiny");
  narrow.intermediate_size = 4;
  SynthOptions many = tiny(0);
  many.outlier_dims = 5;
  EXPECT_THAT([&] { make_synth_plan(narrow, many); },
              ::testing::ThrowsMessage<Error>(HasSubstr("intermediate_size")));
}

}  // namespace
}  // namespace eco::model
