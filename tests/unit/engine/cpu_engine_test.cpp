// The CPU engine end to end on tiny in-memory models: against an independent double-precision
// forward pass, and the invariants every Engine must keep (ragged batches, KV cache, errors).
#include "engine/cpu/cpu_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "common/half.h"
#include "engine/generate.h"
#include "test_model.h"

namespace eco::engine {
namespace {

using test::make_test_model;
using test::TestShape;
using ::testing::HasSubstr;

std::unique_ptr<Engine> cpu_engine(const model::ModelWeights& w, int max_batch = 4,
                                   const char* format = "native", int max_context = 0) {
  EngineOptions o;
  o.device = DeviceKind::Cpu;
  o.format = quant::parse_format(format);
  o.max_batch = max_batch;
  o.max_context = max_context;
  return cpu::create_cpu_engine(w, o);
}

// max |a - b| / max |b| over one row.
double row_error(const float* a, const float* b, int n) {
  double diff = 0, mag = 0;
  for (int i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    mag = std::max(mag, std::abs(double(b[i])));
  }
  return diff / mag;
}

double row_error(const float* a, const std::vector<double>& b) {
  double diff = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
    mag = std::max(mag, std::abs(b[i]));
  }
  return diff / mag;
}

std::vector<int32_t> ids(std::initializer_list<int32_t> l) {
  return l;
}

struct RefCase {
  const char* name;
  TestShape shape;
  const char* format;
  float (*round)(float);
};

TEST(CpuEngine, AllLogitsMatchDoubleReference) {
  TestShape gqa;
  TestShape qwen;
  qwen.qkv_bias = true;
  qwen.tied = true;
  qwen.kv_heads = 1;
  qwen.rope_theta = 1000000.0f;
  TestShape mha;
  mha.kv_heads = mha.heads;
  mha.head_dim = 8;
  mha.heads = 8;
  TestShape f16 = gqa;
  f16.dtype = model::DType::F16;
  TestShape b16 = qwen;
  b16.dtype = model::DType::BF16;
  const RefCase cases[] = {
      {"gqa-native", gqa, "native", nullptr},
      {"qwen2-bias-tied", qwen, "fp32", nullptr},
      {"mha", mha, "native", nullptr},
      {"f16-stored", f16, "native", nullptr},
      {"bf16-stored", b16, "native", nullptr},
      {"f32-as-fp16", gqa, "fp16", &round_to_half},
      {"f32-as-bf16", qwen, "bf16", &round_to_bf16},
  };
  const auto prompt = ids({3, 17, 42, 0, 96, 5, 5, 61, 12, 33, 8});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto m = make_test_model(c.shape, 1);
    auto e = cpu_engine(m->weights, 1, c.format);
    e->prefill({prompt}, /*all_logits=*/true);
    const auto logits = e->logits();
    const int V = c.shape.vocab;
    ASSERT_EQ(logits.size(), prompt.size() * size_t(V));
    const auto ref = test::reference_logits(m->weights, prompt, c.round);
    for (size_t t = 0; t < prompt.size(); ++t)
      EXPECT_LT(row_error(logits.data() + t * size_t(V), ref[t]), 1e-5) << "position " << t;
  }
}

TEST(CpuEngine, SlidingWindowMatchesDoubleReference) {
  // A window of 4 tokens in a context of 11: prefill (every position) and decode against the
  // direct computation, and the window changes exactly the positions past it.
  TestShape s;
  s.sliding_window = 4;
  const auto m = make_test_model(s, 7);
  const auto prompt = ids({3, 17, 42, 0, 96, 5, 5, 61, 12, 33, 8});
  const auto ref = test::reference_logits(m->weights, prompt);
  const int V = s.vocab;
  auto e = cpu_engine(m->weights, 1);
  e->prefill({prompt}, /*all_logits=*/true);
  const auto windowed = e->logits();
  for (size_t t = 0; t < prompt.size(); ++t)
    EXPECT_LT(row_error(windowed.data() + t * size_t(V), ref[t]), 1e-5) << "position " << t;

  const std::vector<int32_t> head(prompt.begin(), prompt.begin() + 5);
  e->prefill({head});
  for (size_t t = head.size(); t < prompt.size(); ++t) {
    e->decode({prompt[t]});
    EXPECT_LT(row_error(e->logits().data(), ref[t]), 1e-5) << "decode at position " << t;
  }

  model::ModelWeights full_w = m->weights;
  full_w.config.sliding_window = 0;
  auto full = cpu_engine(full_w, 1);
  full->prefill({prompt}, /*all_logits=*/true);
  const auto all = full->logits();
  for (size_t t = 0; t < prompt.size(); ++t) {
    const double diff = row_error(windowed.data() + t * size_t(V), all.data() + t * size_t(V), V);
    if (int(t) < s.sliding_window)
      EXPECT_EQ(diff, 0.0) << "position " << t << " lies inside the window";
    else
      EXPECT_GT(diff, 1e-3) << "position " << t << " must not see the keys past the window";
  }
}

TEST(CpuEngine, RoundingFormatsChangeTheWeights) {
  // fp16 of fp32 weights differs from native; fp16 of fp16-stored weights does not.
  const auto m32 = make_test_model(TestShape{}, 2);
  auto native = cpu_engine(m32->weights, 1, "native");
  auto half = cpu_engine(m32->weights, 1, "fp16");
  native->prefill({ids({1, 2, 3})});
  half->prefill({ids({1, 2, 3})});
  EXPECT_NE(native->logits(), half->logits());

  TestShape s;
  s.dtype = model::DType::F16;
  const auto m16 = make_test_model(s, 2);
  auto a = cpu_engine(m16->weights, 1, "native");
  auto b = cpu_engine(m16->weights, 1, "fp16");
  a->prefill({ids({1, 2, 3})});
  b->prefill({ids({1, 2, 3})});
  EXPECT_EQ(a->logits(), b->logits());
  EXPECT_THAT(b->describe(), HasSubstr("fp16"));
}

TEST(CpuEngine, RaggedBatchMatchesEachPromptAlone) {
  TestShape s;
  s.qkv_bias = true;
  const auto m = make_test_model(s, 3);
  const std::vector<std::vector<int32_t>> prompts = {
      ids({5, 9, 13, 2, 88}), ids({40}), ids({7, 7, 7, 1, 2, 3, 60, 61, 62}), ids({90, 0})};
  auto batched = cpu_engine(m->weights, 4);
  batched->prefill(prompts);
  const auto all = batched->logits();
  const int V = s.vocab;
  ASSERT_EQ(all.size(), prompts.size() * size_t(V));
  auto single = cpu_engine(m->weights, 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    single->prefill({prompts[i]});
    const auto one = single->logits();
    ASSERT_EQ(one.size(), size_t(V));
    EXPECT_LT(row_error(all.data() + i * size_t(V), one.data(), V), 1e-6) << "prompt " << i;
    EXPECT_EQ(batched->sequence_length(int(i)), int(prompts[i].size()));
  }
}

TEST(CpuEngine, DecodeMatchesPrefillOfExtendedPrompts) {
  TestShape s;
  s.kv_heads = 1;
  const auto m = make_test_model(s, 4);
  std::vector<std::vector<int32_t>> prompts = {ids({4, 8, 15, 16}), ids({23, 42, 1, 2, 3, 4, 5}),
                                               ids({77})};
  auto e = cpu_engine(m->weights, 3);
  auto check = cpu_engine(m->weights, 3);
  e->prefill(prompts);
  const int V = s.vocab;
  for (int step = 0; step < 4; ++step) {
    // Feed tokens that are not the argmax, so the cache is exercised with arbitrary input.
    const std::vector<int32_t> next = {int32_t((step * 31 + 3) % V), int32_t((step * 7 + 50) % V),
                                       int32_t((step * 13 + 90) % V)};
    e->decode(next);
    for (size_t i = 0; i < prompts.size(); ++i) prompts[i].push_back(next[i]);
    const auto got = e->logits();
    ASSERT_EQ(got.size(), 3u * size_t(V));
    check->prefill(prompts);
    const auto want = check->logits();
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_LT(row_error(got.data() + i * size_t(V), want.data() + i * size_t(V), V), 1e-6)
          << "step " << step << " sequence " << i;
      EXPECT_EQ(e->sequence_length(int(i)), int(prompts[i].size()));
    }
  }
}

TEST(CpuEngine, AllLogitsRowsMatchLastPositionLogits) {
  const auto m = make_test_model(TestShape{}, 5);
  const std::vector<std::vector<int32_t>> prompts = {ids({1, 2, 3}), ids({4, 5, 6, 7, 8}),
                                                     ids({9})};
  auto e = cpu_engine(m->weights, 3);
  e->prefill(prompts, /*all_logits=*/true);
  const auto all = e->logits();
  const auto greedy_all = e->argmax();
  const int V = 97;
  ASSERT_EQ(all.size(), 9u * size_t(V));
  e->prefill(prompts);
  const auto last = e->logits();
  EXPECT_EQ(e->argmax(), greedy_all);
  size_t row = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    // Every row of prompt i equals the last-position logits of its prefix.
    for (size_t t = 0; t < prompts[i].size(); ++t, ++row) {
      auto solo = cpu_engine(m->weights, 1);
      solo->prefill({std::vector<int32_t>(prompts[i].begin(), prompts[i].begin() + long(t) + 1)});
      EXPECT_LT(row_error(all.data() + row * size_t(V), solo->logits().data(), V), 1e-6)
          << "prompt " << i << " position " << t;
    }
    EXPECT_LT(row_error(all.data() + (row - 1) * size_t(V), last.data() + i * size_t(V), V), 1e-6);
  }
}

TEST(CpuEngine, ArgmaxIsTheLargestLogit) {
  const auto m = make_test_model(TestShape{}, 6);
  auto e = cpu_engine(m->weights, 2);
  e->prefill({ids({10, 20}), ids({30})});
  const auto l = e->logits();
  const auto a = e->argmax();
  ASSERT_EQ(a.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const float* row = l.data() + size_t(i) * 97;
    for (int v = 0; v < 97; ++v) EXPECT_LE(row[v], row[a[size_t(i)]]);
  }
}

TEST(CpuEngine, GreedyGenerationIsDeterministicAndConsistent) {
  TestShape s;
  s.qkv_bias = true;
  s.tied = true;
  const auto m = make_test_model(s, 7);
  const std::vector<std::vector<int32_t>> prompts = {ids({3, 1, 4, 1, 5}), ids({9, 2, 6})};
  auto e1 = cpu_engine(m->weights, 2);
  auto e2 = cpu_engine(m->weights, 2);
  const auto r1 = generate(*e1, prompts, 12);
  const auto r2 = generate(*e2, prompts, 12);
  EXPECT_EQ(r1.tokens, r2.tokens);
  ASSERT_EQ(r1.tokens.size(), 2u);
  EXPECT_EQ(r1.tokens[0].size(), 12u);
  EXPECT_EQ(r1.generated_tokens, 24);
  EXPECT_EQ(r1.prompt_tokens, 8);
  EXPECT_EQ(e1->sequence_length(0), 5 + 11);
  EXPECT_EQ(e1->sequence_length(1), 3 + 11);

  // The same continuation by hand: argmax of the reference forward over the growing sequence.
  auto seq = prompts[0];
  for (int step = 0; step < 12; ++step) {
    const auto ref = test::reference_logits(m->weights, seq);
    const auto& last = ref.back();
    const auto best = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    ASSERT_EQ(r1.tokens[0][size_t(step)], best) << "step " << step;
    seq.push_back(best);
  }
  // A sequence generated alone continues identically.
  auto solo = cpu_engine(m->weights, 1);
  EXPECT_EQ(generate(*solo, {prompts[1]}, 12).tokens[0], r1.tokens[1]);
}

TEST(CpuEngine, StopAtEosTrimsAfterTheFirstEos) {
  const auto m = make_test_model(TestShape{}, 8);
  auto e = cpu_engine(m->weights, 1);
  const auto full = generate(*e, {ids({1, 2})}, 10).tokens[0];
  // Declare the third generated token an end-of-sequence token.
  auto w = m->weights;
  w.config.eos_token_ids = {full[2]};
  auto e2 = cpu_engine(w, 1);
  const auto trimmed = generate(*e2, {ids({1, 2})}, 10, /*stop_at_eos=*/true).tokens[0];
  const auto first = std::find(full.begin(), full.end(), full[2]) - full.begin();
  EXPECT_EQ(trimmed, std::vector<int32_t>(full.begin(), full.begin() + first + 1));
}

void expect_error(const std::function<void()>& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "expected eco::Error containing '" << part << "'";
  } catch (const Error& err) {
    EXPECT_THAT(err.what(), HasSubstr(part));
  }
}

TEST(CpuEngine, RejectsBadInputs) {
  const auto m = make_test_model(TestShape{}, 9);
  auto e = cpu_engine(m->weights, 2, "native", 8);
  expect_error([&] { e->decode({1}); }, "before prefill");
  expect_error([&] { e->logits(); }, "before prefill");
  expect_error([&] { e->prefill({}); }, "no prompts");
  expect_error([&] { e->prefill({ids({1}), {}}); }, "prompt 1 is empty");
  expect_error([&] { e->prefill({ids({1, 97})}); }, "token id 97");
  expect_error([&] { e->prefill({ids({-1})}); }, "token id -1");
  expect_error([&] { e->prefill({ids({1}), ids({2}), ids({3})}); }, "batch size of 2");
  expect_error([&] { e->prefill({ids({1, 2, 3, 4, 5, 6, 7, 8, 9})}); }, "maximum context of 8");

  e->prefill({ids({1, 2, 3, 4, 5, 6, 7}), ids({1})});
  expect_error([&] { e->decode({1}); }, "got 1 tokens for a batch of 2");
  expect_error([&] { e->decode({1, 200}); }, "token id 200");
  expect_error([&] { (void)e->sequence_length(2); }, "not in the current batch");
  e->decode({1, 2});  // sequence 0 now holds 8 tokens = max_context
  EXPECT_EQ(e->sequence_length(0), 8);
  expect_error([&] { e->decode({1, 2}); }, "sequence 0 already holds 8 tokens");
  // A failed call leaves the engine usable.
  e->prefill({ids({5})});
  EXPECT_EQ(e->argmax().size(), 1u);
}

TEST(CpuEngine, RejectsBadWeights) {
  const auto m = make_test_model(TestShape{}, 10);
  auto w = m->weights;
  w.layers[1].wk.shape = {16, 64};  // config implies [kv_dim 32, hidden 64]
  expect_error([&] { cpu_engine(w, 1); }, "model.layers.1.self_attn.k_proj.weight");

  auto w2 = m->weights;
  w2.config.num_kv_heads = 3;
  expect_error([&] { cpu_engine(w2, 1); }, "not a multiple");

  auto w3 = m->weights;
  w3.layers.pop_back();
  expect_error([&] { cpu_engine(w3, 1); }, "num_hidden_layers");

  auto w4 = m->weights;
  w4.config.max_position_embeddings = 0;
  expect_error([&] { cpu_engine(w4, 1); }, "--max-context");
}

TEST(CpuEngine, DefaultContextIsMaxPositions) {
  const auto m = make_test_model(TestShape{}, 11);
  auto e = cpu_engine(m->weights, 1);
  EXPECT_EQ(e->options().max_context, 64);
  EXPECT_EQ(e->options().device, DeviceKind::Cpu);
  EXPECT_THAT(e->describe(), HasSubstr("cpu"));
}

}  // namespace
}  // namespace eco::engine
