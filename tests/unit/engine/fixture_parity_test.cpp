// Parity with Hugging Face transformers: each tests/fixtures/<arch>/ holds a tiny random model
// (config.json + safetensors) and expected.json, written by tools/fixtures/make_fixtures.py on a
// host with torch and transformers, with the fp32 logits of a fixed prompt at every position,
// the 32-token greedy continuation and the logits each greedy token was chosen from. The CPU
// engine in native format must match every logit row (max relative error < 1e-4, relative to
// the row's largest |logit|) and every token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_engine.h"
#include "engine/generate.h"
#include "model/synth.h"
#include "model/weights.h"
#include "test_model.h"

namespace eco::engine {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  const fs::path root = ECO_FIXTURES_DIR;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "expected.json"))
      dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

// max |a - b| / max |b| over one row of `vocab` logits.
double relative_error(const float* got, const std::vector<double>& want) {
  double diff = 0, mag = 0;
  for (size_t v = 0; v < want.size(); ++v) {
    diff = std::max(diff, std::abs(double(got[v]) - want[v]));
    mag = std::max(mag, std::abs(want[v]));
  }
  return diff / std::max(mag, 1e-30);
}

// Keys as written by tools/fixtures/make_fixtures.py (write_expected).
void check_fixture(const fs::path& dir) {
  const auto expected = read_json(dir / "expected.json");
  const auto prompt = expected.at("prompt_ids").get<std::vector<int32_t>>();
  const auto want_logits = expected.at("logits").get<std::vector<std::vector<double>>>();
  const auto want_greedy = expected.at("greedy_tokens").get<std::vector<int32_t>>();
  const auto want_step_logits =
      expected.at("greedy_logits").get<std::vector<std::vector<double>>>();
  ASSERT_FALSE(prompt.empty());
  ASSERT_EQ(want_logits.size(), prompt.size()) << "expected.json: one logits row per position";
  ASSERT_FALSE(want_greedy.empty());
  ASSERT_EQ(want_step_logits.size(), want_greedy.size());

  const auto weights = model::load_model(dir);
  const size_t vocab = size_t(weights.config.vocab_size);
  EngineOptions opts;
  opts.device = DeviceKind::Cpu;
  opts.format = quant::parse_format("native");
  opts.max_batch = 1;
  opts.max_context = int(prompt.size() + want_greedy.size());
  auto engine = cpu::create_cpu_engine(weights, opts);

  // Logits at every prompt position (prefill).
  engine->prefill({prompt}, /*all_logits=*/true);
  const auto got = engine->logits();
  ASSERT_EQ(got.size(), prompt.size() * vocab);
  double worst = 0;
  for (size_t t = 0; t < prompt.size(); ++t) {
    ASSERT_EQ(want_logits[t].size(), vocab) << "position " << t;
    const double rel = relative_error(got.data() + t * vocab, want_logits[t]);
    EXPECT_LT(rel, 1e-4) << "prompt position " << t;
    worst = std::max(worst, rel);
  }

  // The greedy continuation through the KV cache (decode), and the logits of every step.
  engine->prefill({prompt});
  std::vector<int32_t> tokens;
  for (size_t s = 0; s < want_greedy.size(); ++s) {
    if (s > 0) engine->decode({tokens.back()});
    const auto step = engine->logits();
    ASSERT_EQ(want_step_logits[s].size(), vocab) << "greedy step " << s;
    const double rel = relative_error(step.data(), want_step_logits[s]);
    EXPECT_LT(rel, 1e-4) << "greedy step " << s;
    worst = std::max(worst, rel);
    tokens.push_back(engine->argmax()[0]);
  }
  EXPECT_EQ(tokens, want_greedy) << "greedy continuation differs from transformers";
  ::testing::Test::RecordProperty(dir.filename().string() + "_max_rel_logit_error",
                                  fmt::format("{:.3g}", worst));

  // The same tokens through generate() (the path the CLI uses).
  EXPECT_EQ(generate(*engine, {prompt}, int(want_greedy.size())).tokens[0], want_greedy);
}

TEST(FixtureParity, CpuEngineMatchesTransformers) {
  const auto dirs = fixture_dirs();
  if (dirs.empty())
    GTEST_SKIP() << "no golden fixtures yet: expected tests/fixtures/<arch>/expected.json, "
                    "written by tools/fixtures/make_fixtures.py on a host with transformers";
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir.string());
    check_fixture(dir);
  }
}

// The fixtures of each RoPE variant and of Qwen3 (tools/fixtures/make_fixtures.py VARIANTS): one
// test each, so a missing fixture shows as a skip by name rather than passing unnoticed.
class FixtureVariant : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureVariant, CpuEngineMatchesTransformers) {
  const fs::path dir = fs::path(ECO_FIXTURES_DIR) / GetParam();
  if (!fs::exists(dir / "expected.json"))
    GTEST_SKIP() << dir.string()
                 << "/expected.json is absent: run tools/fixtures/make_fixtures.py on a host "
                    "with torch and transformers (tools/fixtures/README.md)";
  check_fixture(dir);
}

INSTANTIATE_TEST_SUITE_P(RopeAndQwen3, FixtureVariant,
                         ::testing::Values("llama-linear", "llama-dynamic", "llama-llama3",
                                           "llama3-v4config", "qwen2-yarn", "phi3-longrope",
                                           "phi3-longrope-crossing", "qwen3"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The checker itself, on a fixture made here from the double-precision reference forward of a
// synthetic fp32 model: it must load the directory, parse expected.json and pass.
TEST(FixtureParity, CheckerAcceptsAReferenceFixture) {
  const fs::path dir = fs::temp_directory_path() / ("eco-fixture-test-" + std::to_string(getpid()));
  fs::remove_all(dir);
  model::SynthOptions so;
  so.shape = "tiny";
  so.seed = 3;
  so.dtype = model::DType::F32;
  model::write_synthetic_model(so, dir);
  const auto weights = model::load_model(dir);

  std::vector<int32_t> seq = {1, 5, 9, 200, 17, 3};
  nlohmann::json expected;
  expected["prompt_ids"] = seq;
  const auto logits = test::reference_logits(weights, seq);
  expected["logits"] = logits;
  std::vector<int32_t> greedy;
  std::vector<std::vector<double>> step_logits;
  auto last = logits.back();
  for (int step = 0; step < 6; ++step) {
    const auto best = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    greedy.push_back(best);
    step_logits.push_back(last);
    seq.push_back(best);
    last = test::reference_logits(weights, seq).back();
  }
  expected["greedy_tokens"] = greedy;
  expected["greedy_logits"] = step_logits;
  std::ofstream(dir / "expected.json") << expected.dump();
  check_fixture(dir);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eco::engine
