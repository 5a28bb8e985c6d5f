// The CLI as a careless user or a faulty machine drives it: bad numbers, files that are FIFOs,
// outputs over the study, a closed stdout, a full disk, too little memory for the threads asked
// for, NaN weights, two writers on one study. Each gets a clear error (exit 1) naming the input,
// never a hang, a crash, a kill by signal or a silent success.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/protocol.h"
#include "common/error.h"
#include "model/safetensors.h"
#include "model/synth.h"
#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int code = -1;        // exit status, or 128 + signal
  std::string output;   // stdout + stderr (unless stdout was redirected)
  long max_rss_kb = 0;  // peak resident memory of the process
};

struct RunSpec {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  int stdout_fd = -1;        // >= 0: the command's stdout (stderr still captured)
  int stderr_fd = -1;        // >= 0: the command's stderr
  rlim_t address_space = 0;  // RLIMIT_AS when non-zero
  unsigned timeout_s = 120;  // SIGALRM (survives exec) ends a hang: code 128 + 14
  std::string program = ECO_BINARY;
};

Outcome run(const RunSpec& spec) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(spec.stdout_fd >= 0 ? spec.stdout_fd : out[1], STDOUT_FILENO);
    ::dup2(spec.stderr_fd >= 0 ? spec.stderr_fd : out[1], STDERR_FILENO);
    ::close(out[0]);
    for (const auto& [k, v] : spec.env) ::setenv(k.c_str(), v.c_str(), 1);
    if (spec.address_space != 0) {
      const rlimit lim{spec.address_space, spec.address_space};
      ::setrlimit(RLIMIT_AS, &lim);
    }
    ::alarm(spec.timeout_s);
    std::vector<char*> argv = {const_cast<char*>(spec.program.c_str())};
    for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(spec.program.c_str(), argv.data());
    ::_exit(126);
  }
  ::close(out[1]);
  Outcome o;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) o.output.append(buf, size_t(n));
  ::close(out[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.max_rss_kb = usage.ru_maxrss;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class ReliabilityCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_reliab_cli_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    env_ = {{"ECO_CACHE_DIR", (dir_ / "cache").string()},
            {"ECO_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1"},
            {"ECO_THREADS", "2"}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A tiny synthetic model in dir_/name (written in-process: fast, no CLI round trip).
  fs::path tiny(const std::string& name = "tiny") {
    eco::model::SynthOptions o;
    o.shape = "tiny";
    eco::model::write_synthetic_model(o, dir_ / name);
    return dir_ / name;
  }
  Outcome cli(std::vector<std::string> args) { return run({std::move(args), env_}); }
  Outcome generate(const fs::path& model, std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model",      model.string(), "--device",
                                     "cpu",      "--prompt-ids", "1,2"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (std::find(extra.begin(), extra.end(), "--max-new-tokens") == extra.end())
      args.insert(args.end(), {"--max-new-tokens", "2"});
    return cli(args);
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
};

void expect_clear_error(const Outcome& o, const std::string& what) {
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, AllOf(HasSubstr("error: "), HasSubstr(what), Not(HasSubstr("internal"))));
}

TEST_F(ReliabilityCli, GenerateRefusesBadNumbers) {
  const fs::path m = tiny();
  expect_clear_error(generate(m, {"--batch", "0"}), "--batch must be from 1");
  expect_clear_error(generate(m, {"--batch", "2147483647"}), "--batch must be from 1 to 65536");
  expect_clear_error(generate(m, {"--max-context", "-7"}), "--max-context must be at least 1");
  expect_clear_error(generate(m, {"--format", "int8", "--int8-threshold", "-3"}),
                     "--int8-threshold must be a number >= 0");
  const Outcome nan = generate(m, {"--format", "int8", "--int8-threshold", "nan"});
  EXPECT_NE(nan.code, 0) << nan.output;
  EXPECT_THAT(nan.output, AllOf(HasSubstr("--int8-threshold"), Not(HasSubstr("internal"))));
  // The defaults still work, and an explicit valid value is used.
  EXPECT_EQ(generate(m, {"--batch", "3", "--max-context", "8"}).code, 0);
}

TEST_F(ReliabilityCli, GenerateChecksTheContextAgainstTheModel) {
  const fs::path m = tiny();  // max_position_embeddings 2048
  expect_clear_error(generate(m, {"--max-new-tokens", "5000"}), "max_position_embeddings");
  expect_clear_error(generate(m, {"--max-context", "4096"}), "max_position_embeddings");
  expect_clear_error(generate(m, {"--max-context", "2"}), "too short");
}

// Dynamic NTK RoPE rescales past max_position_embeddings (that is what it is for): generate
// lets it run there, and still refuses the same length without it.
TEST_F(ReliabilityCli, DynamicRopeMayRunPastMaxPositions) {
  const fs::path m = tiny("dynamic-rope");
  auto config = nlohmann::json::parse(std::ifstream(m / "config.json"));
  config["max_position_embeddings"] = 4;
  config["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  std::ofstream(m / "config.json") << config.dump();
  const Outcome o = generate(m, {"--max-new-tokens", "6"});
  EXPECT_EQ(o.code, 0) << o.output;
  config["rope_scaling"] = nullptr;
  std::ofstream(m / "config.json") << config.dump();
  expect_clear_error(generate(m, {"--max-new-tokens", "6"}), "max_position_embeddings");
}

TEST_F(ReliabilityCli, FifoModelFilesAreRefusedNotWaitedOn) {
  for (const char* name : {"model.safetensors", "config.json"}) {
    const fs::path m = tiny(std::string("fifo-") + name);
    fs::remove(m / name);
    ASSERT_EQ(::mkfifo((m / name).c_str(), 0644), 0);
    expect_clear_error(generate(m, {}), "FIFO");
  }
  const fs::path m = tiny("fifo-tokenizer");
  fs::remove(m / "tokenizer.json");
  ASSERT_EQ(::mkfifo((m / "tokenizer.json").c_str(), 0644), 0);
  const Outcome t = cli({"tokenize", "--model", m.string(), "hello"});
  expect_clear_error(t, "FIFO");
  EXPECT_THAT(t.output, Not(HasSubstr("has no tokenizer.json")));
}

TEST_F(ReliabilityCli, TooManyThreadsForTheMemoryIsAnErrorNotAHang) {
  const fs::path m = tiny();
  RunSpec spec{{"generate", "--model", m.string(), "--device", "cpu", "--prompt-ids", "1,2"}, env_};
  spec.env["ECO_THREADS"] = "1000";
  spec.address_space = rlim_t(1536) << 20;  // room for a few hundred 8 MiB thread stacks
  spec.timeout_s = 60;
  expect_clear_error(run(spec), "worker threads");
  spec.env["ECO_THREADS"] = "100000";
  spec.address_space = 0;
  expect_clear_error(run(spec), "ECO_THREADS");
}

TEST_F(ReliabilityCli, NanWeightsFailTheGeneration) {
  const fs::path m = tiny();
  // Poison one element of a norm weight (all ones: fp16 0x3C00) with an fp16 NaN, in place.
  std::string pattern;
  {
    const auto file = eco::model::SafetensorsFile::open(m / "model.safetensors");
    const auto* norm = file->find("model.norm.weight");
    ASSERT_NE(norm, nullptr);
    pattern.assign(reinterpret_cast<const char*>(norm->data), norm->nbytes);
  }
  std::string bytes = slurp(m / "model.safetensors");
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  bytes[at] = char(0x00);
  bytes[at + 1] = char(0x7e);  // 0x7E00: fp16 NaN
  std::ofstream(m / "model.safetensors", std::ios::binary | std::ios::trunc) << bytes;
  for (const char* format : {"native", "fp16"}) {
    const Outcome o = generate(m, {"--format", format});
    expect_clear_error(o, "not a number");
  }
}

TEST_F(ReliabilityCli, ExportNeverWritesOverTheStudy) {
  const fs::path db = dir_ / "s.db";
  { eco::store::Store::open(db); }
  const std::string before = slurp(db);
  expect_clear_error(cli({"export", "--db", db.string(), "--out", db.string()}), "itself");
  EXPECT_EQ(slurp(db), before);
  const fs::path other = dir_ / "other.db";
  { eco::store::Store::open(other); }
  const std::string other_before = slurp(other);
  expect_clear_error(cli({"export", "--db", db.string(), "--out", other.string()}),
                     "existing SQLite database");
  EXPECT_EQ(slurp(other), other_before);
  EXPECT_EQ(cli({"export", "--db", db.string(), "--out", (dir_ / "runs.csv").string()}).code, 0);
  // The dashboard and the main job's reports are outputs too.
  expect_clear_error(cli({"report", "--db", db.string(), "-o", other.string()}),
                     "existing SQLite database");
  EXPECT_EQ(slurp(other), other_before);
  expect_clear_error(cli({"run", "--model", "synthetic:tiny", "--db", db.string(), "--out",
                          (dir_ / "r.md").string(), "--json", other.string()}),
                     "existing SQLite database");
  EXPECT_EQ(slurp(other), other_before);
  EXPECT_EQ(slurp(db), before);
}

TEST_F(ReliabilityCli, StudyOnAReadOnlyFileSystem) {
  // A study on a read-only mount is readable (export works) and a writer is told the file system
  // is read-only, never that the study is corrupt. Needs a private mount namespace.
  if (std::system("unshare -m true 2>/dev/null") != 0)
    GTEST_SKIP() << "no mount namespaces here (unshare -m)";
  const fs::path ro = dir_ / "ro";
  fs::create_directories(ro);
  { eco::store::Store::open(ro / "s.db"); }
  auto in_read_only_mount = [&](const std::string& args) {
    RunSpec spec{{"-m", "sh", "-c",
                  fmt::format("mount --bind '{0}' '{0}' && mount -o remount,ro,bind '{0}' && "
                              "exec '{1}' {2}",
                              ro.string(), ECO_BINARY, args)},
                 env_};
    spec.program = "/usr/bin/unshare";
    return run(spec);
  };
  const std::string db = (ro / "s.db").string();
  const Outcome exported = in_read_only_mount("export --db '" + db + "'");
  EXPECT_EQ(exported.code, 0) << exported.output;
  const Outcome written = in_read_only_mount("bench --model synthetic:tiny --db '" + db + "'");
  EXPECT_EQ(written.code, 1) << written.output;
  EXPECT_THAT(written.output, AllOf(HasSubstr("Read-only file system"), Not(HasSubstr("corrupt"))));
}

TEST_F(ReliabilityCli, ClosedStdoutIsReportedNotASigpipe) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);  // nobody reads
  RunSpec spec{{"synth", "--list"}, env_};
  spec.stdout_fd = p[1];
  const Outcome o = run(spec);
  ::close(p[1]);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, HasSubstr("broken pipe"));
}

TEST_F(ReliabilityCli, ClosedStderrDoesNotFailMeasuredConfigurations) {
  // Progress goes to stderr; with nobody reading it the sweep still completes and stores every
  // configuration as measured (no SIGPIPE, no abort, no write error turned into a failed
  // configuration). The final summary cannot be written, so the exit status is 1.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);
  const fs::path db = dir_ / "s.db";
  RunSpec spec{{"bench",    "--model",  "synthetic:tiny",
                "--device", "cpu",      "--format",
                "fp16",     "--batch",  "1",
                "--idle",   "0",        "--stabilise-max",
                "0",        "--warmup", "0",
                "--runs",   "2",        "--max-reruns",
                "0",        "--db",     db.string()},
               env_};
  spec.stderr_fd = p[1];
  const Outcome o = run(spec);
  ::close(p[1]);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, HasSubstr("| synthetic:tiny | fp16"));  // the table, on stdout
  eco::store::Database check(db.string(), eco::store::Database::Mode::ReadOnly);
  EXPECT_EQ(check.query_int("SELECT count(*) FROM configurations WHERE status = 'done' AND "
                            "error IS NULL"),
            1);
}

TEST_F(ReliabilityCli, FullDiskOnStdoutIsReported) {
  const int full = ::open("/dev/full", O_WRONLY);
  ASSERT_GE(full, 0);
  RunSpec spec{{"synth", "--list"}, env_};
  spec.stdout_fd = full;
  const Outcome o = run(spec);
  ::close(full);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_THAT(o.output, HasSubstr("cannot write to standard output"));
}

TEST_F(ReliabilityCli, SynthOverAnExistingModelSaysSo) {
  const fs::path out = dir_ / "m";
  const std::vector<std::string> args = {"synth", "--shape", "tiny", "--out", out.string()};
  ASSERT_EQ(cli(args).code, 0);
  const Outcome again = cli(args);
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("replacing a synthetic model (shape tiny, seed 0)"));
  // A model synth did not write is kept unless --force.
  fs::remove(out / "synthetic.json");
  const std::string config = slurp(out / "config.json");
  expect_clear_error(cli(args), "did not write");
  EXPECT_EQ(slurp(out / "config.json"), config);
  std::vector<std::string> forced = args;
  forced.push_back("--force");
  EXPECT_EQ(cli(forced).code, 0);
}

TEST_F(ReliabilityCli, TokenizeStreamsALongText) {
  // 1 MiB of base64-like text: the --json listing used to be built whole in memory (~190 bytes
  // per input byte, 374 MB for 2 MiB); now the peak stays near what encoding needs (~20).
  std::string text;
  text.reserve(1 << 20);
  uint64_t x = 88172645463325252ull;
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (text.size() < (1u << 20)) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    text.push_back(kAlphabet[x % 64]);
  }
  std::ofstream(dir_ / "long.txt", std::ios::binary) << text;
  const fs::path m = tiny();
  const fs::path listing = dir_ / "listing.txt";
  const int fd = ::open(listing.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  RunSpec spec{
      {"tokenize", "--model", m.string(), "--json", "--text", (dir_ / "long.txt").string()}, env_};
  spec.stdout_fd = fd;
  const Outcome o = run(spec);
  ::close(fd);
  ASSERT_EQ(o.code, 0) << o.output;
  // The baseline is the same command on a few bytes: a CUDA build maps cuBLAS at start, which
  // alone is ~150 MB resident, and that is not what this test is about.
  std::ofstream(dir_ / "short.txt", std::ios::binary) << text.substr(0, 64);
  RunSpec small{
      {"tokenize", "--model", m.string(), "--json", "--text", (dir_ / "short.txt").string()}, env_};
  small.stdout_fd = ::open("/dev/null", O_WRONLY);
  const Outcome base = run(small);
  ::close(small.stdout_fd);
  ASSERT_EQ(base.code, 0) << base.output;
  EXPECT_LT(o.max_rss_kb - base.max_rss_kb, 80L * 1024)
      << "peak " << o.max_rss_kb << " KiB for 1 MiB of text, " << base.max_rss_kb
      << " KiB for 64 bytes";
  // The streamed document is the JSON it always was.
  const auto j = nlohmann::json::parse(slurp(listing));
  EXPECT_GT(j.at("ids").size(), 100000u);
  EXPECT_EQ(j.at("ids").size(), j.at("pieces").size());
}

// Starts the command without waiting; returns the pid and the read end of its output.
std::pair<pid_t, int> start(const RunSpec& spec) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::close(out[0]);
    for (const auto& [k, v] : spec.env) ::setenv(k.c_str(), v.c_str(), 1);
    ::alarm(spec.timeout_s);
    std::vector<char*> argv = {const_cast<char*>(ECO_BINARY)};
    for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(ECO_BINARY, argv.data());
    ::_exit(126);
  }
  ::close(out[1]);
  return {pid, out[0]};
}

Outcome finish(std::pair<pid_t, int> child) {
  Outcome o;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(child.second, buf, sizeof buf)) > 0) o.output.append(buf, size_t(n));
  ::close(child.second);
  int status = 0;
  ::waitpid(child.first, &status, 0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

TEST_F(ReliabilityCli, TwoBenchesOnOneStudyNeverInterleave) {
  // Two sweeps started together on the same new --db (and then two --resume of it): one owns
  // the study, the other is refused as a second writer. Never a SQLite error, a half-written
  // configuration or a "done" one carrying error text.
  const fs::path db = dir_ / "s.db";
  const std::vector<std::string> bench = {"bench",     "--model",  "synthetic:tiny",
                                          "--device",  "cpu",      "--format",
                                          "fp16,bf16", "--batch",  "1,2",
                                          "--idle",    "0",        "--stabilise-max",
                                          "0",         "--warmup", "0",
                                          "--runs",    "2",        "--max-reruns",
                                          "0",         "--db",     db.string()};
  ASSERT_EQ(
      cli({"generate", "--model", "synthetic:tiny", "--device", "cpu", "--prompt-ids", "1"}).code,
      0);  // the cached model exists before the race
  for (const bool resume : {false, true}) {
    std::vector<std::string> args = bench;
    if (resume) args.push_back("--resume");
    auto a = start({args, env_});
    auto b = start({args, env_});
    const Outcome oa = finish(a), ob = finish(b);
    for (const Outcome* o : {&oa, &ob}) {
      EXPECT_TRUE(o->code == 0 || o->code == 1) << o->output;
      if (o->code == 1) {
        EXPECT_THAT(o->output, HasSubstr("being written by another"));
      }
      EXPECT_THAT(o->output, AllOf(Not(HasSubstr("constraint")), Not(HasSubstr("disk I/O")),
                                   Not(HasSubstr("database is locked"))));
    }
    EXPECT_TRUE(oa.code == 0 || ob.code == 0) << oa.output << ob.output;
  }
  const auto st = eco::store::Store::open_read_only(db);
  (void)st;
  eco::store::Database check(db.string(), eco::store::Database::Mode::ReadOnly);
  EXPECT_EQ(check.query_int("SELECT count(*) FROM configurations"), 4);
  EXPECT_EQ(check.query_int("SELECT count(*) FROM configurations WHERE status != 'done' OR "
                            "error IS NOT NULL"),
            0);
  EXPECT_GE(check.query_int("SELECT count(*) FROM runs WHERE is_warmup = 0"), 8);
}

TEST_F(ReliabilityCli, ProtocolStoreTimelineMustBeABoolean) {
  try {
    eco::bench::ProtocolOptions::from_json(nlohmann::json{{"store_timeline", 1}}, "sweep.json");
    FAIL() << "expected an error";
  } catch (const eco::Error& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("sweep.json"), HasSubstr("store_timeline"), HasSubstr("boolean")));
  }
}

}  // namespace
