// The streaming evaluator on the transformers-made llama fixture (tests/fixtures/llama): the
// chunking rule, reuse of the base's logits, batching, and the errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "engine/engine.h"
#include "model/weights.h"
#include "quality/evaluate.h"

namespace eco::quality {
namespace {

const model::ModelWeights& llama() {
  static const model::ModelWeights w = model::load_model(std::string(ECO_FIXTURES_DIR) + "/llama");
  return w;
}

std::vector<int32_t> random_tokens(size_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = d(rng);
  return out;
}

EvalOptions options(std::vector<std::string> formats, int ctx = 32) {
  EvalOptions o;
  o.device = engine::DeviceKind::Cpu;
  for (const auto& f : formats) o.formats.push_back(quant::parse_format(f));
  o.ctx = ctx;
  return o;
}

// exp(mean NLL) over positions ctx/2 .. ctx-2 of each whole chunk, computed here in double from
// the engine's logits, independently of quality/.
double direct_perplexity(const std::vector<int32_t>& tokens, int ctx) {
  engine::EngineOptions eo;
  eo.device = engine::DeviceKind::Cpu;
  eo.format = quant::parse_format("fp16");
  eo.max_context = ctx;
  auto e = engine::create_engine(llama(), eo);
  const int vocab = llama().config.vocab_size;
  double sum = 0;
  int n = 0;
  for (size_t c = 0; (c + 1) * size_t(ctx) <= tokens.size(); ++c) {
    std::vector<int32_t> chunk(tokens.begin() + ptrdiff_t(c * ctx),
                               tokens.begin() + ptrdiff_t((c + 1) * ctx));
    e->prefill({chunk}, true);
    const auto logits = e->logits();
    for (int p = ctx / 2; p < ctx - 1; ++p) {
      const float* row = logits.data() + size_t(p) * vocab;
      double z = 0;
      for (int v = 0; v < vocab; ++v) z += std::exp(double(row[v]));
      sum += std::log(z) - double(row[chunk[size_t(p) + 1]]);
      ++n;
    }
  }
  return std::exp(sum / n);
}

TEST(QualityEvaluate, PerplexityScoresTheSecondHalfOfEachWholeChunk) {
  const auto tokens = random_tokens(3 * 32 + 7, 256, 1);
  const EvalResult r = evaluate(llama(), tokens, options({"fp16"}));
  EXPECT_EQ(r.chunking.chunks, 3) << "the 7 tokens after the last whole chunk are not scored";
  EXPECT_EQ(r.chunking.first, 16);
  EXPECT_EQ(r.chunking.tokens_scored(), 3 * 15);
  EXPECT_EQ(r.base.tokens, 45);
  EXPECT_EQ(r.device, "cpu");
  const double want = direct_perplexity(tokens, 32);
  EXPECT_NEAR(r.base.ppl.value, want, want * 1e-9);
  EXPECT_GT(r.base.ppl.err, 0);
  EXPECT_NEAR(r.base.ppl.err, r.base.ppl.value * r.base.nll.err, 1e-12);
  EXPECT_TRUE(std::isnan(r.base.kld.value)) << "the base is not compared with itself";
}

TEST(QualityEvaluate, TheBaseFormatAgainstItselfHasZeroKldAndFullAgreement) {
  const auto tokens = random_tokens(2 * 32, 256, 2);
  const EvalResult r = evaluate(llama(), tokens, options({"fp16"}));
  ASSERT_EQ(r.formats.size(), 1u);
  const FormatScore& s = r.formats[0];
  EXPECT_EQ(s.kld.value, 0.0);
  EXPECT_EQ(s.kld_pct.max, 0.0);
  EXPECT_EQ(s.same_top1.value, 1.0);
  EXPECT_EQ(s.ln_ppl_ratio.value, 0.0);
  EXPECT_EQ(s.delta_p.value, 0.0);
  EXPECT_EQ(s.delta_p_rms, 0.0);
  EXPECT_EQ(s.ppl.value, r.base.ppl.value);
}

TEST(QualityEvaluate, QuantizedFormatsAreComparedTokenByToken) {
  const auto tokens = random_tokens(2 * 32, 256, 3);
  const EvalResult r = evaluate(llama(), tokens, options({"int8", "int8-pure", "nf4"}));
  ASSERT_EQ(r.formats.size(), 3u);
  for (const auto& s : r.formats) {
    SCOPED_TRACE(s.format.name());
    EXPECT_EQ(s.tokens, 30);
    EXPECT_TRUE(std::isfinite(s.kld.value));
    EXPECT_GE(s.kld.value, 0.0);
    EXPECT_TRUE(std::isfinite(s.kld.err));
    EXPECT_GE(s.same_top1.value, 0.0);
    EXPECT_LE(s.same_top1.value, 1.0);
    // ln(PPL_q / PPL_base) is the mean NLL difference, so it matches the two perplexities.
    EXPECT_NEAR(s.ln_ppl_ratio.value, std::log(s.ppl.value / r.base.ppl.value), 1e-9);
    const auto& k = s.kld_pct;
    EXPECT_LE(k.min, k.p1);
    EXPECT_LE(k.p1, k.median);
    EXPECT_LE(k.median, k.p99);
    EXPECT_LE(k.p99, k.max);
    EXPECT_LE(s.delta_p_pct.min, s.delta_p_pct.max);
    EXPECT_GE(s.delta_p_rms, std::abs(s.delta_p.value));
  }
  EXPECT_GT(r.formats[2].kld.value, 0.0) << "nf4 changes the logits";
  EXPECT_GT(r.formats[2].kld.value, r.formats[0].kld.value) << "4 bits lose more than 8";
}

TEST(QualityEvaluate, BatchingChunksDoesNotChangeTheScores) {
  const auto tokens = random_tokens(3 * 32, 256, 4);
  auto one = options({"nf4"});
  one.batch = 1;
  auto two = options({"nf4"});
  two.batch = 2;  // batches of 2 and 1 chunks
  const EvalResult a = evaluate(llama(), tokens, one), b = evaluate(llama(), tokens, two);
  EXPECT_EQ(b.batch, 2);
  EXPECT_NEAR(a.base.ppl.value, b.base.ppl.value, a.base.ppl.value * 1e-5);
  EXPECT_NEAR(a.formats[0].kld.value, b.formats[0].kld.value,
              std::max(1e-9, a.formats[0].kld.value * 1e-4));
  EXPECT_EQ(a.formats[0].same_top1.value, b.formats[0].same_top1.value);
}

TEST(QualityEvaluate, ChunksLimitAndProgress) {
  const auto tokens = random_tokens(4 * 16, 256, 5);
  auto o = options({"fp16"}, 16);
  o.max_chunks = 2;
  std::vector<std::pair<int, int>> seen;
  const EvalResult r = evaluate(llama(), tokens, o, [&](int d, int t) { seen.emplace_back(d, t); });
  EXPECT_EQ(r.chunking.chunks, 2);
  EXPECT_EQ(r.base.tokens, 2 * 7);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.back(), std::make_pair(2, 2));
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(QualityEvaluate, BadInputIsReportedBeforeAnyEngineRuns) {
  const auto tokens = random_tokens(64, 256, 6);
  expect_error([&] { evaluate(llama(), tokens, options({"fp16"}, 3)); }, "--ctx 3");
  expect_error([&] { evaluate(llama(), tokens, options({"fp16"}, 512)); },
               "max_position_embeddings");
  expect_error([&] { evaluate(llama(), tokens, options({"fp16"}, 128)); },
               "fewer than one chunk of --ctx 128");
  expect_error([&] { evaluate(llama(), tokens, options({})); }, "--format");
  auto bad = tokens;
  bad[40] = 256;
  expect_error([&] { evaluate(llama(), bad, options({"fp16"})); },
               "token 40 of the text has id 256");
}

}  // namespace
}  // namespace eco::quality
