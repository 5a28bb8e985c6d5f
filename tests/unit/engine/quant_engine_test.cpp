// The CPU engine in every quantized format on a tiny model: each format's Linear is the
// quant layer's reference, greedy tokens and the KL divergence of the next-token distribution
// against fp16 are finite and printed (their size is the quality issue's business), and the
// engine's logits equal a hand-built forward through quant::linear_forward for one layer's
// projections (checked via the Linear objects directly).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/half.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/cpu/quant_linear.h"
#include "quant/quantized_matrix.h"
#include "test_model.h"

namespace eco::engine {
namespace {

std::unique_ptr<Engine> make(const model::ModelWeights& w, const char* format, int batch) {
  EngineOptions o;
  o.device = DeviceKind::Cpu;
  o.format = quant::parse_format(format);
  o.max_batch = batch;
  o.max_context = 48;
  return cpu::create_cpu_engine(w, o);
}

// Mean over rows of KL(p || q) with p, q the softmax of two [rows, vocab] logit arrays.
double mean_kl(const std::vector<float>& p_logits, const std::vector<float>& q_logits, int vocab) {
  const size_t rows = p_logits.size() / size_t(vocab);
  double total = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = p_logits.data() + r * size_t(vocab);
    const float* b = q_logits.data() + r * size_t(vocab);
    double ma = -INFINITY, mb = -INFINITY;
    for (int i = 0; i < vocab; ++i)
      ma = std::max(ma, double(a[i])), mb = std::max(mb, double(b[i]));
    double za = 0, zb = 0;
    for (int i = 0; i < vocab; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    double kl = 0;
    for (int i = 0; i < vocab; ++i) {
      const double lpa = a[i] - ma - std::log(za), lpb = b[i] - mb - std::log(zb);
      kl += std::exp(lpa) * (lpa - lpb);
    }
    total += kl;
  }
  return total / double(rows);
}

TEST(QuantEngine, EveryFormatRunsWithFiniteKlAgainstFp16) {
  test::TestShape shape;  // hidden 64, intermediate 96 (96 % 64 != 0: NF4 blocks cross rows)
  shape.dtype = model::DType::F16;
  auto tm = test::make_test_model(shape, 21);
  const auto& w = tm->weights;
  const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 2, 40}, {7, 3, 88}};

  auto ref = make(w, "fp16", 2);
  ref->prefill(prompts, /*all_logits=*/true);
  const auto ref_logits = ref->logits();
  const auto ref_tokens = ref->decode_greedy(6);

  for (const char* f : {"int8", "int8-pure", "nf4", "nf4-dq"}) {
    SCOPED_TRACE(f);
    auto e = make(w, f, 2);
    EXPECT_NE(e->describe().find(quant::parse_format(f).name()), std::string::npos);
    e->prefill(prompts, true);
    const auto logits = e->logits();
    ASSERT_EQ(logits.size(), ref_logits.size());
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    const double kl = mean_kl(ref_logits, logits, shape.vocab);
    EXPECT_TRUE(std::isfinite(kl));
    EXPECT_GE(kl, 0.0);
    // The quantized model differs from fp16 but not wildly (a broken kernel gives KL ~ 1+).
    EXPECT_LT(kl, 0.5);
    const auto toks = e->decode_greedy(6);
    std::vector<int32_t> seq0;
    for (const auto& step : toks) seq0.push_back(step[0]);
    std::vector<int32_t> ref0;
    for (const auto& step : ref_tokens) ref0.push_back(step[0]);
    std::printf("[quant-engine] %-9s KL vs fp16 %.3e  greedy %s  (fp16 %s)\n  %s\n", f, kl,
                fmt::format("{}", fmt::join(seq0, " ")).c_str(),
                fmt::format("{}", fmt::join(ref0, " ")).c_str(), e->describe().c_str());
  }
}

TEST(QuantEngine, QuantLinearIsTheReferenceMatmul) {
  std::vector<float> wv = test::random_floats(96 * 64, 4, 0.1f);
  wv[5 * 64 + 3] = 2.0f;  // one large weight
  std::vector<uint16_t> bits(wv.size());
  for (size_t i = 0; i < wv.size(); ++i) bits[i] = float_to_half(wv[i]);
  model::TensorView v;
  v.name = "w";
  v.file = "memory";
  v.dtype = model::DType::F16;
  v.shape = {96, 64};
  v.data = reinterpret_cast<const std::byte*>(bits.data());
  v.nbytes = bits.size() * 2;
  std::vector<float> w16(wv.size());
  for (size_t i = 0; i < wv.size(); ++i) w16[i] = half_to_float(bits[i]);
  std::vector<float> x = test::random_floats(3 * 64, 5, 1.0f);
  x[64 + 7] = 9.0f;  // an outlier column for int8 (threshold 6)
  for (const char* f : {"int8", "int8-pure", "nf4", "nf4-dq"}) {
    SCOPED_TRACE(f);
    const auto spec = quant::parse_format(f);
    const auto lin = cpu::make_linear(v, spec);
    const auto m = quant::quantize_matrix(w16.data(), 96, 64, spec);
    std::vector<float> got(3 * 96, NAN), want(3 * 96, NAN);
    lin->forward(x.data(), 3, got.data());
    quant::linear_forward(m, x.data(), 3, want.data());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
    EXPECT_EQ(lin->bytes(), m.bytes());
    EXPECT_LT(lin->bytes(), size_t(96 * 64 * 2));
  }
}

TEST(QuantEngine, RejectsNonMatrixTensor) {
  float data[4] = {1, 2, 3, 4};
  model::TensorView v;
  v.name = "bad";
  v.file = "memory";
  v.dtype = model::DType::F32;
  v.shape = {4};
  v.data = reinterpret_cast<const std::byte*>(data);
  v.nbytes = sizeof(data);
  EXPECT_THROW(cpu::make_quant_linear(v, quant::parse_format("nf4")), eco::Error);
}

}  // namespace
}  // namespace eco::engine
