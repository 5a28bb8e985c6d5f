// The CPU engine with each RoPE variant, Qwen3's per-head q/k norms and an o_proj bias, against
// the double-precision reference forward: prefill at every position, decode across the length
// where dynamic NTK and longrope switch tables (cached keys keep the rotation they were written
// with, as in transformers' generate), and ragged batches whose longest sequence picks the table.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "common/error.h"
#include "engine/cpu/cpu_engine.h"
#include "model/rope.h"
#include "model/synth.h"
#include "model/weights.h"
#include "test_model.h"

namespace eco::engine {
namespace {

using model::RopeType;
using test::TestShape;

constexpr int kSwitch = 8;  // where dynamic / longrope change tables (max / original context)

std::unique_ptr<Engine> engine_for(const model::ModelWeights& w, int max_batch, int context) {
  EngineOptions o;
  o.device = DeviceKind::Cpu;
  o.format = quant::parse_format("native");
  o.max_batch = max_batch;
  o.max_context = context;
  return cpu::create_cpu_engine(w, o);
}

double row_error(const float* a, const std::vector<double>& b) {
  double diff = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
    mag = std::max(mag, std::abs(b[i]));
  }
  return diff / mag;
}

struct Case {
  const char* name;
  TestShape shape;
  bool switches = false;  // the table depends on the sequence length
};

std::vector<Case> cases() {
  std::vector<Case> out;
  auto add = [&](const char* name, RopeType type, auto&& set) {
    TestShape s;
    s.max_positions = kSwitch;
    s.rope.type = type;
    set(s.rope);
    out.push_back({name, s, type == RopeType::Dynamic || type == RopeType::LongRope});
  };
  add("linear", RopeType::Linear, [](model::RopeScaling& r) { r.factor = 2.0; });
  add("dynamic", RopeType::Dynamic, [](model::RopeScaling& r) { r.factor = 4.0; });
  add("llama3", RopeType::Llama3, [](model::RopeScaling& r) {
    r.factor = 8.0;
    r.low_freq_factor = 1.0;
    r.high_freq_factor = 4.0;
    r.original_max_positions = 64;  // wavelengths on both sides of 16 .. 64, and between
  });
  add("yarn", RopeType::Yarn, [](model::RopeScaling& r) {
    r.factor = 4.0;
    r.original_max_positions = 2048;  // a ramp over several frequencies of head_dim 16
  });
  add("longrope", RopeType::LongRope, [](model::RopeScaling& r) {
    r.original_max_positions = kSwitch;
    r.factor = 4.0;
    for (int i = 0; i < 8; ++i) {
      r.short_factor.push_back(1.0 + 0.25 * i);
      r.long_factor.push_back(2.0 + 1.5 * i);
    }
  });
  TestShape qwen3;
  qwen3.qk_norm = true;
  qwen3.head_dim = 24;  // heads x head_dim != hidden, as in Qwen3
  out.push_back({"qwen3", qwen3});
  TestShape biased;
  biased.qkv_bias = true;
  biased.o_bias = true;
  biased.qk_norm = true;
  out.push_back({"qwen3-attention-bias", biased});
  return out;
}

const std::vector<int32_t> kTokens = {3, 17, 42, 0, 96, 5, 5, 61, 12, 33, 8, 71, 2, 50};

TEST(CpuEngineRope, PrefillMatchesReference) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto m = test::make_test_model(c.shape, 11);
    auto e = engine_for(m->weights, 1, 32);
    e->prefill({kTokens}, /*all_logits=*/true);
    const auto logits = e->logits();
    const auto ref = test::reference_logits(m->weights, kTokens);
    const size_t V = size_t(c.shape.vocab);
    for (size_t t = 0; t < kTokens.size(); ++t)
      EXPECT_LT(row_error(logits.data() + t * V, ref[t]), 1e-5) << "position " << t;
  }
}

TEST(CpuEngineRope, DecodeKeepsTheRotationEachKeyWasWrittenWith) {
  const int prompt = 5;  // below kSwitch: the prefill uses the short / unscaled table
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto m = test::make_test_model(c.shape, 12);
    auto e = engine_for(m->weights, 1, 32);
    e->prefill({std::vector<int32_t>(kTokens.begin(), kTokens.begin() + prompt)});
    // Position t was written by the step whose longest sequence had max(prompt, t + 1) tokens.
    const auto ref = test::reference_logits(m->weights, kTokens, nullptr,
                                            [&](int t) { return std::max(prompt, t + 1); });
    const auto all_at_once = test::reference_logits(m->weights, kTokens);
    for (size_t t = prompt; t < kTokens.size(); ++t) {
      e->decode({kTokens[t]});
      const auto logits = e->logits();
      EXPECT_LT(row_error(logits.data(), ref[t]), 1e-5) << "decode at position " << t;
      // The check can tell: past the switch, one prefill of everything rotates differently.
      if (c.switches && int(t) >= kSwitch) {
        EXPECT_GT(row_error(logits.data(), all_at_once[t]), 1e-4) << "position " << t;
      }
    }
  }
}

TEST(CpuEngineRope, LongestSequenceOfABatchPicksTheTable) {
  for (const Case& c : cases()) {
    if (!c.switches) continue;
    SCOPED_TRACE(c.name);
    const auto m = test::make_test_model(c.shape, 13);
    const std::vector<int32_t> shorter(kTokens.begin(), kTokens.begin() + 4);
    const std::vector<int32_t> longer(kTokens.begin() + 1, kTokens.begin() + 1 + 11);
    auto e = engine_for(m->weights, 2, 32);
    e->prefill({shorter, longer}, /*all_logits=*/true);
    const auto logits = e->logits();
    const size_t V = size_t(c.shape.vocab);
    // The 4-token sequence is rotated with the table of the batch's 11 tokens.
    const auto ref = test::reference_logits(m->weights, shorter, nullptr, [](int) { return 11; });
    const auto alone = test::reference_logits(m->weights, shorter);
    for (size_t t = 0; t < shorter.size(); ++t) {
      EXPECT_LT(row_error(logits.data() + t * V, ref[t]), 1e-5) << "position " << t;
      if (t > 0) {
        EXPECT_GT(row_error(logits.data() + t * V, alone[t]), 1e-4) << "position " << t;
      }
    }
  }
}

// A synthetic Qwen3 directory (q_norm / k_norm tensors, explicit head_dim) and Llama 3.1 rope
// scaling loaded from files: the engine reads the norms and matches the reference.
TEST(CpuEngineRope, SyntheticDirectoriesLoadAndMatchReference) {
  namespace fs = std::filesystem;
  for (const char* shape : {"tiny-qwen3", "tiny"}) {
    SCOPED_TRACE(shape);
    const fs::path dir =
        fs::temp_directory_path() / fmt::format("eco-rope-{}-{}", shape, ::getpid());
    model::SynthOptions so;
    so.shape = shape;
    so.seed = 4;
    so.dtype = model::DType::F32;
    model::write_synthetic_model(so, dir);
    auto w = model::load_model(dir);
    if (w.config.arch == model::Arch::Qwen3) {
      ASSERT_EQ(w.layers[0].q_norm.shape, (std::vector<int64_t>{64}));
    } else {  // llama-3.1-8b's scaling on the tiny shape (its own is unscaled)
      w.config.rope = model::synth_shape("llama-3.1-8b").rope;
    }
    auto e = engine_for(w, 1, 32);
    e->prefill({kTokens}, /*all_logits=*/true);
    const auto logits = e->logits();
    const auto ref = test::reference_logits(w, kTokens);
    const size_t V = size_t(w.config.vocab_size);
    for (size_t t = 0; t < kTokens.size(); ++t)
      EXPECT_LT(row_error(logits.data() + t * V, ref[t]), 1e-5) << "position " << t;
    fs::remove_all(dir);
  }
}

TEST(CpuEngineRope, MissingQkNormWeightsAreRefused) {
  TestShape s;
  s.qk_norm = true;
  auto m = test::make_test_model(s, 14);
  m->weights.layers[1].k_norm = {};
  EXPECT_THROW(engine_for(m->weights, 1, 16), Error);
}

}  // namespace
}  // namespace eco::engine
