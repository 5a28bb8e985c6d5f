// `ecocompute bench`, `run` and `generate` as a user runs them: the binary as a child process,
// on the CPU engine with the tiny synthetic model, with the stand-in NVML library (scripted
// power) or with no NVML at all. Includes a sweep killed with SIGKILL and resumed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/store.h"
#include "store_access.h"

namespace {

namespace fs = std::filesystem;
namespace store = eco::store;
using eco::store::test_db;
using ::testing::HasSubstr;
using ::testing::Not;

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// A running ecocompute with stdout and stderr on one pipe.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        const fs::path& cwd = {}) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(125);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(ECO_BINARY)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(ECO_BINARY, argv.data());
      ::_exit(126);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Reads output until it contains `needle` (true) or the child ends or time runs out (false).
  bool wait_for(const std::string& needle, double timeout_s) {
    const double end = now_s() + timeout_s;
    while (output_.find(needle) == std::string::npos) {
      const double left = end - now_s();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, int(left * 1000) + 1) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return output_.find(needle) != std::string::npos;
      output_.append(buf, size_t(n));
    }
    return true;
  }

  void kill9() { ::kill(pid_, SIGKILL); }

  // Reads to the end and returns the exit status (128 + signal when killed).
  int finish() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) output_.append(buf, size_t(n));
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

struct Outcome {
  int code;
  std::string output;
};

Outcome run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                const fs::path& cwd = {}) {
  Child c(args, env, cwd);
  const int code = c.finish();
  return {code, c.output()};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_bench_cli_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // One model cache for every test of this binary (resolve_model serialises the writers).
    const std::string cache = (fs::temp_directory_path() / "eco_bench_cli_cache").string();
    no_nvml_ = {{"ECO_CACHE_DIR", cache}, {"ECO_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"}};
    // Stand-in NVML: one GPU at a constant 150 W, counter refreshed every millisecond.
    stub_ = {{"ECO_CACHE_DIR", cache},
             {"ECO_NVML_LIBRARY", ECO_NVML_STUB},
             {"ECO_NVML_STUB_SCRIPT", "device name=Stand-in_GPU period_ms=1; power 0 0 150"}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A sweep file with a fast sampler, so windows need not last seconds, plus flags that keep
  // each test short and its gates deterministic.
  std::vector<std::string> fast_bench(const fs::path& db, int min_updates = 3) {
    const fs::path sweep = dir_ / "sweep.json";
    std::ofstream(sweep) << fmt::format(
        R"({{"protocol": {{"sample_interval_s": 0.002, "min_counter_updates": {}}}}})",
        min_updates);
    return {"bench",
            "--sweep",
            sweep.string(),
            "--model",
            "synthetic:tiny",
            "--device",
            "cpu",
            "--idle",
            "0",
            "--stabilise-max",
            "0",
            "--warmup",
            "1",
            "--runs",
            "2",
            "--max-runs",
            "2",
            "--max-cv-tok-s",
            "100000",
            "--max-cv-energy",
            "100000",
            "--max-reruns",
            "0",
            "--db",
            db.string()};
  }

  fs::path dir_;
  std::map<std::string, std::string> no_nvml_, stub_;
};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(BenchCli, BenchWithStandInNvmlStoresRunsAndPrintsTheTable) {
  const fs::path db = dir_ / "study.db";
  // Windows of at least 20 counter updates (1 ms each, so tens of milliseconds): a host so
  // loaded that it preempts the meter for a few milliseconds at a window's end still leaves the
  // energy within ~10 % of power x time. Decode is its own window (direct), never derived.
  auto env = stub_;
  env["ECO_NVML_STUB_SCRIPT"] = "device name=Stand-in_GPU period_ms=1; power 0 0 150";
  const Outcome o =
      run_cli(fast_bench(db, 20) + std::vector<std::string>{"--format", "fp16", "--batch", "1,2",
                                                            "--prompt-len", "4", "--gen-len", "3"},
              env);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_THAT(o.output, HasSubstr("| model"));
  EXPECT_THAT(o.output, HasSubstr("J/request"));
  EXPECT_THAT(o.output, HasSubstr("synthetic:tiny"));
  EXPECT_THAT(o.output, Not(HasSubstr("not measured"))) << o.output;
  auto st = eco::store::Store::open_read_only(db);
  const auto configs = st.configs();
  ASSERT_EQ(configs.size(), 2u);
  for (const auto& c : configs) {
    EXPECT_EQ(c.status, store::ConfigStatus::Done);
    EXPECT_EQ(c.gate, store::GateOutcome::Passed);
    EXPECT_EQ(c.key.prompt_len, 4);
    const auto runs = st.runs(c.id);
    ASSERT_EQ(runs.size(), 3u);  // 1 warm-up + 2 measured
    for (const auto& r : runs) {
      if (r.warmup) continue;
      EXPECT_THAT(r.flags, Not(HasSubstr("decode-derived")));
      // 150 W for the run's duration (the counter integrates the scripted power).
      EXPECT_NEAR(r.gross_energy_j / r.seconds, 150.0, 30.0);
      EXPECT_GT(r.j_per_request, 0);
    }
  }
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM sessions WHERE gpu_name = 'Stand-in GPU'"), 1);
}

TEST_F(BenchCli, ResumeAfterKillNineNeitherLosesNorDuplicatesRuns) {
  const fs::path db = dir_ / "study.db";
  // Windows of >= 40 counter updates (1 ms each): every measured run lasts tens of ms, so the
  // sweep of 4 configurations is still going when the second one starts.
  const auto args =
      fast_bench(db, 40) + std::vector<std::string>{"--format",     "fp16,bf16", "--batch",   "1,2",
                                                    "--prompt-len", "4",         "--gen-len", "3"};
  {
    Child c(args, stub_);
    ASSERT_TRUE(c.wait_for("[2/4]", 60)) << c.output();
    ::usleep(150 * 1000);
    c.kill9();
    ASSERT_EQ(c.finish(), 128 + SIGKILL) << c.output();
  }
  std::vector<int64_t> first_run_ids;
  int64_t first_config = 0;
  {
    auto st = eco::store::Store::open(db);
    const auto configs = st.configs();
    ASSERT_EQ(configs.size(), 4u);
    EXPECT_EQ(configs[0].status, store::ConfigStatus::Done);
    EXPECT_NE(configs[3].status, store::ConfigStatus::Done);  // killed mid-sweep
    first_config = configs[0].id;
    for (const auto& r : st.runs(first_config)) first_run_ids.push_back(r.id);
    EXPECT_EQ(first_run_ids.size(), 3u);
    // Every stored run is whole: its three phases were written in the same transaction.
    EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM phases "
                                "p WHERE p.run_id = r.id) != 3"),
              0);
    // A configuration that was not finished has no statistics.
    EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM config_stats s JOIN configurations c ON "
                                "c.id = s.config_id WHERE c.status != 'done'"),
              0);
  }
  // Without --resume the existing configurations are refused, and nothing is changed.
  const Outcome refused = run_cli(args, stub_);
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.output, HasSubstr("pass --resume"));
  {
    auto st = eco::store::Store::open_read_only(db);
    EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM sessions"), 1);
  }

  const Outcome resumed = run_cli(args + std::vector<std::string>{"--resume"}, stub_);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("1 already complete"));
  auto st = eco::store::Store::open_read_only(db);
  for (const auto& c : st.configs()) {
    EXPECT_EQ(c.status, store::ConfigStatus::Done) << c.id;
    EXPECT_EQ(c.rounds, 1);
    const auto runs = st.runs(c.id);
    ASSERT_EQ(runs.size(), 3u) << "configuration " << c.id;
    std::set<std::pair<bool, int>> seen;
    for (const auto& r : runs) EXPECT_TRUE(seen.insert({r.warmup, r.index}).second);
  }
  std::vector<int64_t> after;
  for (const auto& r : st.runs(first_config)) after.push_back(r.id);
  EXPECT_EQ(after, first_run_ids);  // completed runs kept as they were, not redone
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM runs"), 12);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM phases p "
                              "WHERE p.run_id = r.id) != 3"),
            0);
  EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM sessions"), 2);  // killed, resumed
}

TEST_F(BenchCli, BenchTakesATextPromptAndInt8Options) {
  const fs::path db = dir_ / "study.db";
  // The prompt is the text's tokens: its length is their count.
  const Outcome gen = run_cli({"generate", "--model", "synthetic:tiny", "--device", "cpu",
                               "--prompt", "hello world", "--max-new-tokens", "2", "--json"},
                              no_nvml_);
  ASSERT_EQ(gen.code, 0) << gen.output;
  const auto ids = nlohmann::json::parse(gen.output)["prompts"][0].get<std::vector<int>>();
  ASSERT_FALSE(ids.empty());

  const Outcome o = run_cli(
      fast_bench(db) + std::vector<std::string>{"--format", "int8", "--int8-threshold", "3.5",
                                                "--int8-impl", "reference-bnb", "--batch", "2",
                                                "--prompt", "hello world", "--gen-len", "3",
                                                "--min-counter-updates", "7"},
      no_nvml_);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_THAT(o.output, HasSubstr("not measured"));
  auto st = eco::store::Store::open_read_only(db);
  const auto c = st.configs().at(0);
  EXPECT_EQ(c.status, store::ConfigStatus::Done) << c.error;
  EXPECT_EQ(c.key.prompt_len, int(ids.size()));
  const auto pj = nlohmann::json::parse(c.protocol_json);
  EXPECT_EQ(pj["prompt"]["kind"], "text");
  EXPECT_EQ(pj["prompt"]["text"], "hello world");
  EXPECT_EQ(pj["prompt"]["token_ids"].get<std::vector<int>>(), ids);
  EXPECT_EQ(pj["min_counter_updates"], 7) << "the flag overrides the sweep file's value";
  for (const auto& r : st.runs(c.id)) EXPECT_EQ(r.prompt_tokens, 2 * int64_t(ids.size()));
  auto q = test_db(st).prepare("SELECT name, params_json FROM formats");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.get_text(0), "int8");
  const auto params = nlohmann::json::parse(q.get_text(1));
  EXPECT_EQ(params["threshold"].get<double>(), 3.5);
  EXPECT_EQ(params["impl"], "reference-bnb");
  EXPECT_THAT(c.engine, HasSubstr("threshold 3.5"));

  // Misused options are refused before anything is measured.
  const fs::path db2 = dir_ / "bad.db";
  auto bad = [&](std::vector<std::string> extra) {
    return run_cli(fast_bench(db2) + extra, no_nvml_);
  };
  Outcome e = bad({"--format", "fp16", "--int8-threshold", "3"});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("--int8-threshold applies to the int8 format"));
  e = bad({"--format", "int8", "--int8-impl", "bnb"});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("--int8-impl 'bnb': use fused or reference-bnb"));
  e = bad({"--format", "int8,int8-pure", "--int8-threshold", "0"});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("lists int8-pure twice"));
  e = bad({"--format", "fp16", "--prompt", "hi", "--prompt-len", "4"});
  EXPECT_NE(e.code, 0);
  EXPECT_THAT(e.output, HasSubstr("excludes --prompt"));
  e = bad({"--format", "fp16", "--cooldown", "nan"});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("--cooldown must be a finite number >= 0 (got nan)"));
  e = bad({"--format", "fp16", "--batch", "1,4294967297"});
  EXPECT_NE(e.code, 0);
  EXPECT_THAT(e.output, HasSubstr("--batch"));
  e = bad({"--format", "fp16", "--batch", "1,0"});
  EXPECT_NE(e.code, 0);
  EXPECT_THAT(e.output, HasSubstr("--batch"));
  e = bad({"--format", "fp16", "--min-counter-updates", "-1"});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("min_counter_updates must not be negative"));
  e = bad({"--format", "fp16", "--text", (dir_ / "missing.txt").string()});
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("missing.txt: no such file"));
  EXPECT_FALSE(fs::exists(db2));
}

// Repeated values are measured once; a failed configuration makes bench exit non-zero (after
// the table, with the rest measured); the GPU lost mid-sweep is recorded on every affected run
// and configuration, fails its gate, and makes bench exit non-zero.
TEST_F(BenchCli, DuplicatesOnceFailuresAndALostGpuExitNonZero) {
  const fs::path db = dir_ / "study.db";
  Outcome o = run_cli(fast_bench(db) + std::vector<std::string>{"--format", "fp16,fp16",
                                                                "--batch", "1,1", "--prompt-len",
                                                                "4,4", "--gen-len", "3"},
                      no_nvml_);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_EQ(eco::store::Store::open_read_only(db).configs().size(), 1u);

  // A prompt beyond the model's context fails that configuration; the other is measured.
  const fs::path db2 = dir_ / "failing.db";
  o = run_cli(fast_bench(db2) + std::vector<std::string>{"--format", "fp16", "--prompt-len",
                                                         "4,100000", "--gen-len", "3"},
              no_nvml_);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, HasSubstr("| synthetic:tiny"));
  EXPECT_THAT(o.output, HasSubstr("1 of 2 configurations failed"));

  // Every energy reading fails from 0.3 s on (NVML: GPU is lost); windows of >= 40 counter
  // updates (1 ms each) make the sweep last well over a second.
  auto env = stub_;
  std::string lost;
  for (const char* call : {"energy", "fields", "instant", "average", "usage", "temperature",
                           "clock", "memory"})
    lost += fmt::format("; error {} GPU_IS_LOST from=0.3", call);
  env["ECO_NVML_STUB_SCRIPT"] += lost;
  const fs::path db3 = dir_ / "lost.db";
  o = run_cli(fast_bench(db3, 40) + std::vector<std::string>{"--format", "fp16,bf16", "--batch",
                                                            "1,2", "--prompt-len", "4",
                                                            "--gen-len", "3"},
              env);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, HasSubstr("energy readings failed"));
  auto st = eco::store::Store::open_read_only(db3);
  int faulted = 0;
  for (const auto& c : st.configs()) {
    if (c.gate != store::GateOutcome::Failed) continue;
    ++faulted;
    const auto gate = nlohmann::json::parse(c.gate_json);
    EXPECT_FALSE(gate["rounds"].back()["fault"].get<std::string>().empty()) << c.gate_json;
    bool flagged = false;
    for (const auto& r : st.runs(c.id)) flagged = flagged || r.flags.find("energy-fault") != std::string::npos;
    EXPECT_TRUE(flagged);
  }
  EXPECT_GE(faulted, 2);  // the first configuration may have finished before 0.3 s
}

TEST_F(BenchCli, RunWithoutSensorsWritesStudyAndReportsAndSaysNotMeasured) {
  const Outcome o = run_cli({"run"}, no_nvml_, dir_);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_THAT(o.output, HasSubstr("not measured"));
  EXPECT_THAT(o.output, HasSubstr("/nonexistent/libnvidia-ml.so.1 not found"));
  ASSERT_TRUE(fs::exists(dir_ / "ecocompute-study.db"));
  const std::string md = read_file(dir_ / "ecocompute-report.md");
  EXPECT_THAT(md, HasSubstr("# ecocompute report"));
  EXPECT_THAT(md, HasSubstr("not measured: "));
  EXPECT_THAT(md, HasSubstr("| synthetic:tiny"));
  const auto j = nlohmann::json::parse(read_file(dir_ / "ecocompute-report.json"));
  EXPECT_FALSE(j["energy_measured"].get<bool>());
  EXPECT_THAT(j["energy_note"].get<std::string>(), HasSubstr("not found"));
  EXPECT_EQ(j["prompt"]["kind"], "text");
  ASSERT_EQ(j["configurations"].size(), 6u);  // fp16, int8, nf4 x batch 1, 4
  for (const auto& c : j["configurations"]) {
    EXPECT_EQ(c["status"], "done") << c.dump();
    EXPECT_TRUE(c["j_per_request_mean"].is_null());
    EXPECT_GT(c["decode_tok_s_mean"].get<double>(), 0);
  }

  // Running again starts a fresh study in the same place instead of failing.
  const Outcome again = run_cli({"run", "--format", "fp16", "--batch", "1"}, no_nvml_, dir_);
  ASSERT_EQ(again.code, 0) << again.output;
  {
    auto st = eco::store::Store::open_read_only(dir_ / "ecocompute-study.db");
    EXPECT_EQ(st.configs().size(), 1u);
    EXPECT_EQ(test_db(st).query_int("SELECT count(*) FROM sessions"), 1);
  }
  // --resume keeps it: the finished configuration is reported again, not measured again.
  const Outcome resumed =
      run_cli({"run", "--format", "fp16", "--batch", "1", "--resume"}, no_nvml_, dir_);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("1 already complete"));

  // A file that is not an ecocompute study is not replaced.
  std::ofstream(dir_ / "notes.db") << "my notes\n";
  const Outcome foreign = run_cli({"run", "--db", "notes.db"}, no_nvml_, dir_);
  EXPECT_EQ(foreign.code, 1);
  EXPECT_THAT(foreign.output, HasSubstr("notes.db"));
  EXPECT_EQ(read_file(dir_ / "notes.db"), "my notes\n");
  // Report paths are checked before anything is measured.
  const Outcome nowhere = run_cli({"run", "--out", "/nonexistent/dir/r.md"}, no_nvml_, dir_);
  EXPECT_EQ(nowhere.code, 1);
  EXPECT_THAT(nowhere.output, HasSubstr("--out /nonexistent/dir/r.md: the folder"));
}

TEST_F(BenchCli, GenerateFromTextAndClearErrorsForBadPrompts) {
  const std::vector<std::string> base = {
      "generate", "--model", "synthetic:tiny", "--device", "cpu", "--max-new-tokens", "4"};
  const Outcome o = run_cli(base + std::vector<std::string>{"--prompt", "hello world"}, no_nvml_);
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_THAT(o.output, HasSubstr("prompt 0: "));
  EXPECT_THAT(o.output, HasSubstr("tokens from --prompt"));
  EXPECT_THAT(o.output, HasSubstr("sequence 0: "));
  EXPECT_THAT(o.output, HasSubstr("text 0: "));

  // The same text from a file, and its token ids given directly, generate the same tokens.
  const fs::path text = dir_ / "prompt.txt";
  std::ofstream(text) << "hello world";
  const auto json = [&](std::vector<std::string> extra) {
    const Outcome r = run_cli(base + extra + std::vector<std::string>{"--json"}, no_nvml_);
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(r.output);
  };
  const auto from_prompt = json({"--prompt", "hello world"});
  const auto from_file = json({"--text", text.string()});
  EXPECT_EQ(from_prompt["prompts"], from_file["prompts"]);
  EXPECT_EQ(from_prompt["tokens"], from_file["tokens"]);
  std::string ids;
  for (const auto& id : from_prompt["prompts"][0]) {
    if (!ids.empty()) ids += ',';
    ids += id.dump();
  }
  const auto from_ids = json({"--prompt-ids", ids});
  EXPECT_EQ(from_ids["tokens"], from_prompt["tokens"]);
  ASSERT_TRUE(from_ids.contains("texts"));  // decoded, since the model has a tokenizer
  EXPECT_EQ(from_ids["texts"], from_prompt["texts"]);

  Outcome e =
      run_cli(base + std::vector<std::string>{"--text", (dir_ / "nope.txt").string()}, no_nvml_);
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("--text " + (dir_ / "nope.txt").string() + ": no such file"));
  EXPECT_THAT(e.output, Not(HasSubstr("internal error")));
  std::ofstream(dir_ / "empty.txt").close();
  e = run_cli(base + std::vector<std::string>{"--text", (dir_ / "empty.txt").string()}, no_nvml_);
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("the file is empty"));
  e = run_cli(base + std::vector<std::string>{"--prompt", "hi", "--prompt-ids", "1,2"}, no_nvml_);
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("give the prompts one way"));
  e = run_cli(base, no_nvml_);
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.output, HasSubstr("give a prompt: --prompt"));
}

// tokenize takes synthetic:SHAPE as --model does everywhere: the synthetic model carries a
// byte-level tokenizer, so "Hello" is BOS and five byte tokens.
TEST_F(BenchCli, TokenizeTakesASyntheticModel) {
  const Outcome o = run_cli({"tokenize", "--model", "synthetic:tiny", "Hello"}, no_nvml_);
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_THAT(o.output, HasSubstr("6 tokens: ["));
  const Outcome bad = run_cli({"tokenize", "--model", "synthetic:nope", "Hello"}, no_nvml_);
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.output, HasSubstr("unknown synthetic shape 'nope'"));
}

}  // namespace
