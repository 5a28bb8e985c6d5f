// `ecocompute quality` as a user runs it: the binary as a child process on the CPU engine, with
// token ids for the transformers-made llama fixture (it has no tokenizer), the bundled text for
// the tiny synthetic model, scores stored beside a bench run of the same model and format, and
// the errors for bad input.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Outcome {
  int code;
  std::string output;  // stdout
  std::string errors;  // stderr
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q.append("'\\''");
    else
      q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

class QualityCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_quality_cli_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the binary with no NVML (the session records why) and a shared model cache.
  Outcome run(const std::vector<std::string>& args) {
    const fs::path err = dir_ / "stderr.txt";
    std::string cmd = fmt::format(
        "ECO_CACHE_DIR={} ECO_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 {}",
        quoted((fs::temp_directory_path() / "eco_quality_cli_cache").string()), quoted(ECO_BINARY));
    for (const auto& a : args) cmd += fmt::format(" {}", quoted(a));
    cmd += fmt::format(" 2>{}", quoted(err.string()));
    Outcome o{};
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
    const int status = ::pclose(p);
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::ifstream in(err);
    o.errors.assign(std::istreambuf_iterator<char>(in), {});
    return o;
  }

  // Seeded token ids for the llama fixture (vocabulary 256), one per line.
  fs::path token_file(size_t n) {
    std::mt19937 rng(7);
    std::ofstream f(dir_ / "tokens.txt");
    for (size_t i = 0; i < n; ++i) f << rng() % 256 << "\n";
    return dir_ / "tokens.txt";
  }

  fs::path dir_;
};

TEST_F(QualityCli, TokensOfAFixtureModelGiveOneRowPerFormatBaseFirst) {
  const auto o = run({"quality", "--model", std::string(ECO_FIXTURES_DIR) + "/llama", "--tokens",
                      token_file(100).string(), "--format", "nf4", "--ctx", "32", "--device", "cpu",
                      "-o", "json"});
  ASSERT_EQ(o.code, 0) << o.errors;
  const auto j = nlohmann::json::parse(o.output);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["format"], "fp16");
  EXPECT_EQ(j[0]["kld"], 0.0);
  EXPECT_EQ(j[0]["same_top1"], 1.0);
  EXPECT_EQ(j[1]["format"], "nf4");
  EXPECT_GT(j[1]["kld"].get<double>(), 0.0);
  EXPECT_EQ(j[1]["tokens_scored"], 3 * 15) << "3 whole chunks of 32, 15 scored in each";
  EXPECT_THAT(o.errors, HasSubstr("3 chunks of 32 tokens"));
  EXPECT_THAT(o.errors, HasSubstr("quality: 3/3 chunks")) << "the progress on stderr";
}

TEST_F(QualityCli, ScoresAreStoredBesideTheBenchRunOfTheSameModelAndFormat) {
  const fs::path db = dir_ / "study.db";
  const auto b = run({"bench",
                      "--model",
                      "synthetic:tiny",
                      "--format",
                      "fp16,nf4",
                      "--device",
                      "cpu",
                      "--idle",
                      "0",
                      "--stabilise-max",
                      "0",
                      "--warmup",
                      "0",
                      "--runs",
                      "2",
                      "--prompt-len",
                      "4",
                      "--gen-len",
                      "2",
                      "--max-reruns",
                      "0",
                      "--db",
                      db.string()});
  ASSERT_EQ(b.code, 0) << b.output << b.errors;
  const auto q = run({"quality", "--model", "synthetic:tiny", "--format", "nf4,int8", "--ctx", "64",
                      "--chunks", "2", "--device", "cpu", "--db", db.string()});
  ASSERT_EQ(q.code, 0) << q.errors;
  EXPECT_THAT(q.output, HasSubstr("| nf4"));
  EXPECT_THAT(q.errors, HasSubstr("bundled data/kjv/heldout.txt"));

  {
    auto st = eco::store::Store::open_read_only(db);
    EXPECT_EQ(st.db().query_int("SELECT count(*) FROM models"), 1) << "one model identity";
    EXPECT_EQ(st.db().query_int("SELECT count(*) FROM formats"), 3) << "fp16, nf4, int8";
    const auto scores = st.quality_scores();
    ASSERT_EQ(scores.size(), 3u);
    EXPECT_EQ(scores[0].format_id, scores[0].base_format_id);
    EXPECT_EQ(scores[0].kld, 0.0);
    EXPECT_EQ(scores[1].tokens_scored, 2 * 31);
    EXPECT_GT(scores[1].kld, scores[2].kld) << "nf4 loses more than int8";
    EXPECT_EQ(scores[1].text_source, "bundled data/kjv/heldout.txt");
    EXPECT_EQ(scores[1].tokens_sha256.size(), 64u);
    ASSERT_TRUE(scores[1].session_id.has_value());
  }
  const auto csv = run({"export", "--db", db.string(), "--configs", "--format", "json"});
  ASSERT_EQ(csv.code, 0) << csv.errors;
  const auto configs = nlohmann::json::parse(csv.output);
  ASSERT_EQ(configs.size(), 2u);
  for (const auto& c : configs) {
    SCOPED_TRACE(c["format"].get<std::string>());
    ASSERT_TRUE(c["quality_ppl"].is_number()) << "the quality score beside the energy";
    EXPECT_TRUE(c["quality_kld"].is_number());
  }
  EXPECT_EQ(configs[0]["quality_kld"], 0.0);
  EXPECT_GT(configs[1]["quality_kld"].get<double>(), 0.0);
  const auto rows = run({"export", "--db", db.string(), "--quality", "--format", "csv"});
  ASSERT_EQ(rows.code, 0) << rows.errors;
  EXPECT_THAT(rows.output, HasSubstr("quality_id,session_id,model,format"));
  EXPECT_EQ(std::count(rows.output.begin(), rows.output.end(), '\n'), 4);
}

TEST_F(QualityCli, BadInputIsReportedWithWhatToDo) {
  const std::string llama = std::string(ECO_FIXTURES_DIR) + "/llama";
  const auto tokens = token_file(100).string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--model", llama, "--tokens", tokens, "--text", tokens}, "not both"},
      {{"--model", llama, "--tokens", tokens, "--ctx", "1024"}, "max_position_embeddings"},
      {{"--model", llama, "--tokens", tokens, "--ctx", "128"}, "fewer than one chunk"},
      {{"--model", llama, "--tokens", (dir_ / "none.txt").string()}, "no such file"},
      {{"--model", llama}, "tokenizer"},
      {{"--model", llama, "--tokens", tokens, "--format", "nf4,nf4"}, "twice"},
      {{"--model", llama, "--tokens", tokens, "--format", "q3"}, "q3"},
      {{"--model", llama, "--tokens", tokens, "--int8-threshold", "4", "--format", "nf4"},
       "add int8"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"quality", "--device", "cpu"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    SCOPED_TRACE(fmt::format("{}", fmt::join(args, " ")));
    const auto o = run(args);
    EXPECT_EQ(o.code, 1);
    EXPECT_THAT(o.errors, HasSubstr(c.message));
  }
}

}  // namespace
