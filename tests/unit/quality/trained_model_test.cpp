// The real trained model of tests/fixtures/trained/ (made by tools/gpu/train_small_model.py on
// the GPU host; docs/QUALITY.md): ecocompute's tokenizer gives the ids `tokenizers` gave for the
// held-out text, the CPU engine's fp16 perplexity matches what transformers computed there, and
// the formats' KL divergences are finite and ordered as quantization error predicts.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"
#include "model/weights.h"
#include "quality/evaluate.h"
#include "quality/text.h"

namespace eco::quality {
namespace {

namespace fs = std::filesystem;

// CI keeps this fast: the first few chunks of the ctx-128 scoring.
constexpr int kCtx = 128;
constexpr int kChunks = 4;

const fs::path kDir = fs::path(ECO_FIXTURES_DIR) / "trained";

class TrainedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kDir / "perplexity.json") || !fs::exists(kDir / "model.safetensors"))
      GTEST_SKIP() << "tests/fixtures/trained/ is absent: the trained model is made on a GPU "
                      "host by tools/gpu/train_small_model.py (docs/QUALITY.md) and committed";
    std::ifstream in(kDir / "perplexity.json");
    std::stringstream ss;
    ss << in.rdbuf();
    expected_ = nlohmann::json::parse(ss.str());
    ids_ = expected_.at("token_ids").get<std::vector<int32_t>>();
  }
  nlohmann::json expected_;
  std::vector<int32_t> ids_;
};

TEST_F(TrainedModel, TokenizerGivesTheIdsOfHuggingFaceTokenizers) {
  const auto tok = model::load_tokenizer_for_model(kDir);
  const auto ours = tok.encode(default_text());
  ASSERT_EQ(ours.size(), ids_.size());
  EXPECT_EQ(ours, ids_);
}

TEST_F(TrainedModel, Fp16PerplexityMatchesTransformersWithinHalfAPercent) {
  const auto& by = expected_.at("by_ctx").at(std::to_string(kCtx));
  const auto sums = by.at("chunk_nll_sums").get<std::vector<double>>();
  ASSERT_GE(sums.size(), size_t(kChunks));
  double sum = 0;
  for (int c = 0; c < kChunks; ++c) sum += sums[size_t(c)];
  const double want = std::exp(sum / (kChunks * by.at("scored_per_chunk").get<int>()));

  const auto weights = model::load_model(kDir);
  EvalOptions o;
  o.device = engine::DeviceKind::Cpu;
  o.formats = {quant::parse_format("fp16")};
  o.ctx = kCtx;
  o.max_chunks = kChunks;
  const EvalResult r = evaluate(weights, ids_, o);
  EXPECT_NEAR(r.base.ppl.value, want, want * 0.005)
      << "ecocompute fp16 " << r.base.ppl.value << ", transformers fp16 " << want;
  // A trained model predicts its held-out text far better than chance.
  EXPECT_LT(r.base.ppl.value, weights.config.vocab_size / 20.0);
}

TEST_F(TrainedModel, KlDivergenceIsFiniteAndOrderedByPrecision) {
  const auto weights = model::load_model(kDir);
  EvalOptions o;
  o.device = engine::DeviceKind::Cpu;
  o.formats = {quant::parse_format("int8"), quant::parse_format("int8-pure"),
               quant::parse_format("nf4")};
  o.ctx = kCtx;
  o.max_chunks = kChunks;
  const EvalResult r = evaluate(weights, ids_, o);
  for (const auto& s : r.formats) {
    SCOPED_TRACE(s.format.name());
    EXPECT_TRUE(std::isfinite(s.kld.value));
    EXPECT_TRUE(std::isfinite(s.ppl.value));
  }
  const double int8 = r.formats[0].kld.value, pure = r.formats[1].kld.value,
               nf4 = r.formats[2].kld.value;
  EXPECT_LE(int8, pure) << "outlier decomposition cannot make int8 worse";
  EXPECT_GT(nf4, int8) << "4-bit weights lose more than 8-bit ones";
  EXPECT_GT(r.formats[0].same_top1.value, 0.9);
}

}  // namespace
}  // namespace eco::quality
