#pragma once
// Tiny models built in memory for engine tests: TensorViews pointing at buffers the TestModel
// owns, and an independent double-precision forward pass to check the engine against.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/weights.h"

namespace eco::engine::test {

struct TestShape {
  int hidden = 64;
  int intermediate = 96;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;
  int head_dim = 16;
  int vocab = 97;
  int max_positions = 64;
  float rope_theta = 10000.0f;
  float eps = 1e-5f;
  bool qkv_bias = false;
  bool tied = false;
  int sliding_window = 0;  // config.sliding_window (0: full causal attention)
  bool qk_norm = false;    // Qwen3's per-head q/k RMSNorm (makes the model a qwen3)
  bool o_bias = false;     // an o_proj bias (attention_bias)
  model::RopeScaling rope;
  model::DType dtype = model::DType::F32;
};

struct TestModel {
  model::ModelWeights weights;
  std::vector<std::unique_ptr<std::vector<std::byte>>> buffers;  // what the views point at
};

// Random weights scaled so that activations and logits stay O(1) and greedy choices are not
// near-ties. Values are stored in shape.dtype.
std::unique_ptr<TestModel> make_test_model(const TestShape& shape, uint64_t seed);

// Element i of a view as double (F32/F16/BF16), read independently of the engine's converter.
double view_at(const model::TensorView& t, int64_t i);

// Logits at every position of `tokens` ([tokens, vocab]), computed directly in double from the
// stored weights (each optionally rounded by `round`, e.g. through fp16). With the config's
// sliding_window W > 0, the query at position t sees the keys at t - W + 1 .. t only.
// Unscaled RoPE is computed here in double; a scaled one uses model::rope_table for the
// sequence length rope_seq_len(t) at each position t (default: all tokens, i.e. one prefill;
// a KV-cache decode rotates position t with the table of the step that wrote it).
std::vector<std::vector<double>> reference_logits(const model::ModelWeights& w,
                                                  const std::vector<int32_t>& tokens,
                                                  float (*round)(float) = nullptr,
                                                  const std::function<int(int)>& rope_seq_len = {});

// Uniform random floats in [-scale, scale), deterministic for a seed.
std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f);

}  // namespace eco::engine::test
