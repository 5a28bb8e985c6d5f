// Parity with Hugging Face transformers: each tests/fixtures/<arch>/ holds a tiny random model
// (config.json + safetensors) and expected.json, written by tools/fixtures/make_fixtures.py on a
// host with torch and transformers, with the fp32 logits of a fixed prompt at every position
// and the 32-token greedy continuation. The CPU engine in native format must reproduce both.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

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

void check_fixture(const fs::path& dir) {
  const auto expected = read_json(dir / "expected.json");
  const auto prompt = expected.at("prompt_ids").get<std::vector<int32_t>>();
  const auto want_logits = expected.at("logits").get<std::vector<std::vector<double>>>();
  const auto want_greedy = expected.at("greedy").get<std::vector<int32_t>>();
  ASSERT_FALSE(prompt.empty());
  ASSERT_EQ(want_logits.size(), prompt.size()) << "expected.json: one logits row per position";
  ASSERT_FALSE(want_greedy.empty());

  const auto weights = model::load_model(dir);
  EngineOptions opts;
  opts.device = DeviceKind::Cpu;
  opts.format = quant::parse_format("native");
  opts.max_batch = 1;
  opts.max_context = int(prompt.size() + want_greedy.size());
  auto engine = cpu::create_cpu_engine(weights, opts);

  engine->prefill({prompt}, /*all_logits=*/true);
  const auto got = engine->logits();
  const size_t vocab = size_t(weights.config.vocab_size);
  ASSERT_EQ(got.size(), prompt.size() * vocab);
  double worst = 0;
  size_t worst_pos = 0;
  for (size_t t = 0; t < prompt.size(); ++t) {
    ASSERT_EQ(want_logits[t].size(), vocab) << "position " << t;
    double diff = 0, mag = 0;
    for (size_t v = 0; v < vocab; ++v) {
      diff = std::max(diff, std::abs(double(got[t * vocab + v]) - want_logits[t][v]));
      mag = std::max(mag, std::abs(want_logits[t][v]));
    }
    const double rel = diff / std::max(mag, 1e-30);
    if (rel > worst) {
      worst = rel;
      worst_pos = t;
    }
  }
  EXPECT_LT(worst, 1e-4) << "max relative logit error at position " << worst_pos;
  ::testing::Test::RecordProperty(dir.filename().string() + "_max_rel_logit_error",
                                  std::to_string(worst));

  const auto r = generate(*engine, {prompt}, int(want_greedy.size()));
  EXPECT_EQ(r.tokens[0], want_greedy) << "greedy continuation differs from transformers";
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
  auto last = logits.back();
  for (int step = 0; step < 6; ++step) {
    const auto best = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    greedy.push_back(best);
    seq.push_back(best);
    last = test::reference_logits(weights, seq).back();
  }
  expected["greedy"] = greedy;
  std::ofstream(dir / "expected.json") << expected.dump();
  check_fixture(dir);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eco::engine
