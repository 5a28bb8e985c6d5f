// The CUDA engine in each quantized format against the CPU engine in the same format, on a
// tiny synthetic llama with planted outlier dimensions: logits close (int8-pure's on a model
// without them, see below), KL divergence against fp16 finite and about the same on both
// devices (printed with the greedy tokens), and the fused / reference-bnb LLM.int8() engines
// giving the same tokens.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cuda_test_util.h"
#include "engine/engine.h"
#include "model/synth.h"
#include "model/weights.h"

namespace eco::engine::cuda::test {
namespace {

namespace fs = std::filesystem;

double mean_kl(const std::vector<float>& p, const std::vector<float>& q, int vocab) {
  const size_t rows = p.size() / size_t(vocab);
  double total = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = p.data() + r * size_t(vocab);
    const float* b = q.data() + r * size_t(vocab);
    double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0, kl = 0;
    for (int i = 0; i < vocab; ++i)
      ma = std::max(ma, double(a[i])), mb = std::max(mb, double(b[i]));
    for (int i = 0; i < vocab; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    for (int i = 0; i < vocab; ++i) {
      const double la = a[i] - ma - std::log(za), lb = b[i] - mb - std::log(zb);
      kl += std::exp(la) * (la - lb);
    }
    total += kl;
  }
  return total / double(rows);
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {5, 9, 100, 7, 301, 44, 2}, {17, 3, 250}, {8}, {400, 401, 402, 403}};

// A tiny synthetic llama; outlier_dims > 0 plants outliers of |x| ~ 30 in every matmul input kind.
model::ModelWeights tiny_model(const fs::path& dir, uint64_t seed, int outlier_dims) {
  model::SynthOptions so;
  so.shape = "tiny";
  so.seed = seed;
  so.outlier_dims = outlier_dims;
  so.outlier_scale = 30.0f;
  model::write_synthetic_model(so, dir);
  return model::load_model(dir);
}

std::unique_ptr<Engine> engine_for(const model::ModelWeights& w, DeviceKind d,
                                   quant::FormatSpec f) {
  EngineOptions o;
  o.device = d;
  o.format = f;
  o.max_batch = 4;
  o.max_context = 64;
  return create_engine(w, o);
}

TEST(CudaQuantEngine, EachFormatMatchesTheCpuEngine) {
  ECO_REQUIRE_GPU();
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_quant_engine_{}", ::getpid());
  const auto w = tiny_model(dir, 17, 4);
  const auto& prompts = kPrompts;
  const int V = w.config.vocab_size;

  auto ref = engine_for(w, DeviceKind::Cpu, quant::parse_format("fp16"));
  ref->prefill(prompts, true);
  const auto ref_logits = ref->logits();

  std::vector<quant::FormatSpec> specs;
  for (const char* f : {"int8", "int8-pure", "nf4", "nf4-dq"})
    specs.push_back(quant::parse_format(f));
  auto bnb = quant::parse_format("int8");
  bnb.int8_impl = quant::Int8Impl::ReferenceBnb;
  specs.push_back(bnb);
  std::vector<std::vector<int32_t>> fused_tokens;
  for (const auto& spec : specs) {
    const std::string name =
        spec.name() + (spec.int8_impl == quant::Int8Impl::ReferenceBnb ? "(reference-bnb)" : "");
    SCOPED_TRACE(name);
    auto cpu = engine_for(w, DeviceKind::Cpu, spec);
    auto gpu = engine_for(w, DeviceKind::Cuda, spec);
    cpu->prefill(prompts, true);
    gpu->prefill(prompts, true);
    const auto lc = cpu->logits(), lg = gpu->logits();
    std::vector<double> lcd(lc.begin(), lc.end());
    const double err = rel_err(lg, lcd);
    // nf4-dq: the CUDA engine double-quantizes the stacked q|k|v and gate|up matrices (one mean
    // offset each), the CPU engine each tensor: a slightly different absmax rounding. int8: the
    // activations are re-quantized in every layer, and an input that differs by fp16 rounding
    // between the engines (the CUDA engine quantizes fp16 inputs, the CPU engine fp32 ones) can
    // land on the other side of a rounding boundary (one code = 1/127 of the row's absmax);
    // over four layers that gives 1-4 % (H200, 2026-12-03: 1.2 % int8), while the KL check
    // below stays tight.
    // int8-pure here is ill-conditioned, so its logits are compared on a model without planted
    // outliers (Int8PureMatchesTheCpuEngineWithoutOutliers): with threshold 0 the planted
    // columns (|x| ~ 30, in every matmul input kind since the scaled synthetic weights) set
    // every row's absmax, and 68 % of the o_proj input codes and 97 % of the down_proj ones
    // are 0 or +-1 (CPU engine). Measured on the CPU engine alone: rounding each matmul input
    // to fp16 moves its logits by 21 % (the H200 gave 21 % against the CPU engine), 20 random
    // perturbations of fp16-rounding size by up to 20 %, and its logits are 27 % from fp16's;
    // a logits bound would tell nothing. Its KL against fp16 moved by at most 6.5 % under the
    // same perturbations (1.66e-3 .. 1.84e-3), so the KL check below still holds it.
    const bool int8 = spec.format == quant::WeightFormat::Int8;
    if (!(int8 && spec.int8_threshold == 0.0f)) {
      EXPECT_LT(err, spec.format == quant::WeightFormat::NF4DQ || int8 ? 5e-2 : 3e-2);
    }
    const double kc = mean_kl(ref_logits, lc, V), kg = mean_kl(ref_logits, lg, V);
    EXPECT_TRUE(std::isfinite(kc) && std::isfinite(kg));
    EXPECT_LT(std::fabs(kc - kg), 1e-4 + 0.2 * kc);
    cpu->prefill(prompts);
    gpu->prefill(prompts);
    const auto tc = cpu->decode_greedy(8), tg = gpu->decode_greedy(8);
    std::string sc, sg;
    for (const auto& step : tc) sc += fmt::format(" {}", step[0]);
    for (const auto& step : tg) sg += fmt::format(" {}", step[0]);
    std::printf(
        "[cuda-quant-engine] %-24s logits rel err %.2e  KL vs fp16 cpu %.3e cuda %.3e\n"
        "  greedy cpu:%s\n  greedy cuda:%s\n  %s\n",
        name.c_str(), err, kc, kg, sc.c_str(), sg.c_str(), gpu->describe().c_str());
    if (spec.format == quant::WeightFormat::Int8 && spec.int8_threshold > 0) {
      if (spec.int8_impl == quant::Int8Impl::Fused)
        fused_tokens = std::vector<std::vector<int32_t>>(tg);
      else
        EXPECT_EQ(tg, fused_tokens) << "fused and reference-bnb LLM.int8() chose different tokens";
    }
    const auto t = traffic_model(*gpu);
    EXPECT_LT(t.weight_bytes, t.weights_resident_bytes);  // quantized linears read fewer bytes
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// int8-pure's logits against the CPU engine's, on the model and prompts above without planted
// outliers: every activation code comes from the row's own spread, and fp16-rounded inputs move
// the CPU engine's logits by 1.3 % (20 random perturbations of that size: at most 1.3 %).
TEST(CudaQuantEngine, Int8PureMatchesTheCpuEngineWithoutOutliers) {
  ECO_REQUIRE_GPU();
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_quant_pure_{}", ::getpid());
  const auto w = tiny_model(dir, 17, 0);
  const int V = w.config.vocab_size;
  auto ref = engine_for(w, DeviceKind::Cpu, quant::parse_format("fp16"));
  ref->prefill(kPrompts, true);
  const auto ref_logits = ref->logits();
  const auto spec = quant::parse_format("int8-pure");
  auto cpu = engine_for(w, DeviceKind::Cpu, spec);
  auto gpu = engine_for(w, DeviceKind::Cuda, spec);
  cpu->prefill(kPrompts, true);
  gpu->prefill(kPrompts, true);
  const auto lc = cpu->logits(), lg = gpu->logits();
  const double err = rel_err(lg, std::vector<double>(lc.begin(), lc.end()));
  const double kc = mean_kl(ref_logits, lc, V), kg = mean_kl(ref_logits, lg, V);
  std::printf(
      "[cuda-quant-engine] int8-pure, no outliers: logits rel err %.2e  KL vs fp16 cpu "
      "%.3e cuda %.3e\n",
      err, kc, kg);
  EXPECT_LT(err, 5e-2);
  EXPECT_TRUE(std::isfinite(kc) && std::isfinite(kg));
  EXPECT_LT(std::fabs(kc - kg), 1e-4 + 0.2 * kc);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Where a format departs from the CPU engine, by prefill size: M <= 16 tokens take the GEMV path
// (residual normalised on the fly), 17..32 the plain-row GEMV of int8, above the GEMM paths.
TEST(CudaQuantEngine, PrefillMatchesTheCpuEngineAtEverySize) {
  ECO_REQUIRE_GPU();
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_quant_sizes_{}", ::getpid());
  model::SynthOptions so;
  so.shape = "tiny";
  so.seed = 5;
  model::write_synthetic_model(so, dir);
  const auto w = model::load_model(dir);
  for (const char* f : {"fp16", "int8-pure", "int8", "nf4"}) {
    const auto spec = quant::parse_format(f);
    auto cpu = engine_for(w, DeviceKind::Cpu, spec);
    auto gpu = engine_for(w, DeviceKind::Cuda, spec);
    for (int len : {1, 5, 16, 20, 40}) {
      std::vector<int32_t> p(static_cast<size_t>(len));
      for (int i = 0; i < len; ++i) p[size_t(i)] = (i * 37 + 11) % 500;
      const std::vector<std::vector<int32_t>> prompts = {p};
      cpu->prefill(prompts, true);
      gpu->prefill(prompts, true);
      const auto lc = cpu->logits(), lg = gpu->logits();
      const double err = rel_err(lg, std::vector<double>(lc.begin(), lc.end()));
      std::printf("[quant-prefill] %-9s M=%-3d rel err %.3e\n", f, len, err);
      EXPECT_LT(err, 3e-2) << f << " M=" << len;
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Path choices are options of each engine: two engines with different choices live side by
// side, each runs and describes its own, and a changed choice takes effect on the next decode.
TEST(CudaQuantEngine, PathOptionsArePerEngine) {
  ECO_REQUIRE_GPU();
  const fs::path dir = fs::temp_directory_path() / fmt::format("eco_quant_paths_{}", ::getpid());
  model::SynthOptions so;
  so.shape = "tiny";
  so.seed = 23;
  so.outlier_dims = 4;
  so.outlier_scale = 30.0f;
  model::write_synthetic_model(so, dir);
  const auto w = model::load_model(dir);
  const std::vector<std::vector<int32_t>> prompts = {{5, 9, 100, 7}, {17, 3, 250}};

  EngineOptions o;
  o.device = DeviceKind::Cuda;
  o.format = quant::parse_format("nf4");
  o.max_batch = 2;
  o.max_context = 64;
  auto fused = create_engine(w, o);
  o.cuda.nf4_fused_max_batch = 0;
  auto dequant = create_engine(w, o);
  EXPECT_NE(fused->describe().find("1-64 nf4-fused-mma-gemv"), std::string::npos)
      << fused->describe();
  EXPECT_NE(dequant->describe().find("1-16 nf4-dequant-fp16+gemv"), std::string::npos)
      << dequant->describe();
  // tiny's intermediate size (352) is not a multiple of 64: down_proj takes the dequantize path.
  EXPECT_NE(fused->describe().find("down 1-16 nf4-dequant-fp16+gemv"), std::string::npos)
      << fused->describe();
  EXPECT_EQ(fused->options().cuda.nf4_fused_max_batch, 64);
  fused->prefill(prompts);
  dequant->prefill(prompts);
  const auto a = fused->logits(), b = dequant->logits();
  EXPECT_LT(rel_err(a, std::vector<double>(b.begin(), b.end())), 1e-2);
  EXPECT_EQ(fused->decode_greedy(6).size(), dequant->decode_greedy(6).size());
  o.cuda.nf4_fused_max_batch = 65;
  EXPECT_THROW(create_engine(w, o), eco::Error);

  // int8 with outlier counting: one count per matmul with a threshold (q|k|v, o, gate|up, down
  // of every layer), and none once the option is off again.
  o.format = quant::parse_format("int8");
  o.cuda = CudaPathOptions{};
  auto int8 = create_engine(w, o);
  int8->prefill(prompts);
  (void)take_quant_stats(*int8);
  CudaPathOptions count;
  count.count_outliers = true;
  set_cuda_paths(*int8, count);
  EXPECT_NE(int8->describe().find("eagerly"), std::string::npos);
  int8->decode_greedy(3);  // two decode steps
  const auto stats = take_quant_stats(*int8);
  EXPECT_EQ(stats.outlier_counts.size(), size_t(2 * 4 * w.config.num_layers));
  int planted = 0;
  for (int c : stats.outlier_counts) planted = std::max(planted, c);
  EXPECT_GT(planted, 0) << "the planted outlier dimensions reach some matmul input";
  set_cuda_paths(*int8, CudaPathOptions{});
  int8->decode_greedy(2);
  EXPECT_TRUE(take_quant_stats(*int8).outlier_counts.empty());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace eco::engine::cuda::test
