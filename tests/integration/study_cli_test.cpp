// `ecocompute study` as the lead runs it, scaled down: the smoke study (studies/eco-2026.toml
// with --smoke: tiny models, CPU engine, the stand-in NVML library) end to end, then every
// section of its analysis, dashboard data and findings checked against the database; and the
// budget, resumption and errors on a small study file.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "report/asset.h"
#include "report/study.h"
#include "store/store.h"
#include "store_access.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int code = -1;
  std::string output;
};

// The binary in the repository root (the study file names data/ paths relative to it).
Outcome run(const std::string& args, const std::map<std::string, std::string>& env) {
  std::string cmd = "cd " ECO_SOURCE_DIR " && env";
  for (const auto& [k, v] : env) cmd += fmt::format(" '{}={}'", k, v);
  cmd += fmt::format(" {} {} 2>&1", ECO_BINARY, args);
  FILE* p = ::popen(cmd.c_str(), "r");
  Outcome o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The section of `md` from `heading` to the next heading of the same or a higher level.
std::string section(const std::string& md, const std::string& heading) {
  const size_t at = md.find(heading);
  if (at == std::string::npos) return "";
  const std::string level = heading.substr(0, heading.find(' ') + 1);
  size_t end = at + heading.size();
  while ((end = md.find("\n#", end)) != std::string::npos) {
    const size_t hashes = md.find_first_not_of('#', end + 1) - end - 1;
    if (hashes <= level.size() - 1) break;
    ++end;
  }
  return md.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

int table_rows(const std::string& text) {
  int rows = 0;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);)
    if (line.rfind("| ", 0) == 0 && line.find("|---") == std::string::npos) ++rows;
  return rows - 1;  // the header
}

// The smoke study runs once (its checks are one test, so ctest runs it once): its database
// and outputs are then checked part by part.
class StudySmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("eco_study_smoke_{}", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    env_ = {{"ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_study_cache").string()},
            {"ECO_NVML_LIBRARY", ECO_NVML_STUB},
            {"ECO_THREADS", "1"},  // one core: tests beside it time millisecond windows
            {"ECO_NVML_STUB_SCRIPT", "device name=Stand-in_GPU period_ms=1; power 0 0 150"}};
    smoke_ =
        run(fmt::format("study run studies/eco-2026.toml --smoke --db {}", db().string()), env_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path db() const { return dir_ / "smoke.db"; }

  void database_holds_every_part();
  void analysis_has_every_section();
  void dashboard_holds_the_study();
  void findings_come_from_the_database();
  void a_second_run_measures_nothing();

  fs::path dir_;
  std::map<std::string, std::string> env_;
  Outcome smoke_;
};

TEST_F(StudySmoke, EndToEndWithEverySectionFilledFromTheDatabase) {
  ASSERT_EQ(smoke_.code, 0) << smoke_.output;
  EXPECT_THAT(smoke_.output, HasSubstr("study: complete"));
  {
    SCOPED_TRACE("database");
    database_holds_every_part();
  }
  {
    SCOPED_TRACE("analysis");
    analysis_has_every_section();
  }
  {
    SCOPED_TRACE("dashboard");
    dashboard_holds_the_study();
  }
  {
    SCOPED_TRACE("findings");
    findings_come_from_the_database();
  }
  {
    SCOPED_TRACE("second run");
    a_second_run_measures_nothing();
  }
}

void StudySmoke::database_holds_every_part() {
  auto st = eco::store::Store::open_read_only(db());
  auto& sql = eco::store::test_db(st);
  // Parts: 7 models x 6 formats at batch 1; 4 more thresholds; 4 formats x batches 2, 4.
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM configurations WHERE status = 'done'"), 54);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM configurations WHERE status != 'done'"), 0);
  EXPECT_EQ(sql.query_int("SELECT count(DISTINCT model_id) FROM configurations"), 7);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM configurations WHERE device != 'cpu'"), 0);
  // Quality: every metered (model, format) once against fp16, and the study file's quality-only
  // model (the trained one, a tiny model here) with each of the study's 10 formats.
  EXPECT_EQ(
      sql.query_int("SELECT count(*) FROM quality_scores"),
      sql.query_int("SELECT count(DISTINCT model_id || '/' || format_id) FROM configurations") +
          10);
  EXPECT_EQ(sql.query_int("SELECT count(DISTINCT model_id) FROM quality_scores WHERE model_id NOT "
                          "IN (SELECT model_id FROM configurations)"),
            1);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM published_imports"), 1);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM sessions WHERE gpu_name = 'Stand-in GPU'"),
            sql.query_int("SELECT count(*) FROM sessions"));
  // One counter period for the call: the first model's sweep measures it, the six later ones
  // reuse it (the smoke study has no idle baseline; StudyCli.OneIdleBaselinePerStudy checks it).
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM protocol_events WHERE step = 'counter-period' "
                          "AND outcome = 'measured'"),
            1);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM protocol_events WHERE step = 'counter-period' "
                          "AND outcome = 'reused'"),
            6);
}

void StudySmoke::analysis_has_every_section() {
  const std::string md = read_file(dir_ / "smoke-analysis.md");
  const std::string measured = section(md, "## Source: measured");
  ASSERT_FALSE(measured.empty()) << md;
  EXPECT_EQ(table_rows(section(measured, "### Configurations")), 54);
  EXPECT_EQ(table_rows(section(measured, "### Against the baseline")), 54 - 9);  // 9 fp16 rows
  // Batch law: the 4 formats of the batch part, J/request and J/token each.
  EXPECT_EQ(table_rows(section(measured, "### Batch-size law")), 8);
  EXPECT_GE(table_rows(section(measured, "### Crossovers along model size")), 5);
  EXPECT_THAT(section(measured, "### Pareto front"), HasSubstr("front"));
  EXPECT_THAT(section(measured, "### Pareto front"), Not(HasSubstr("No quality scores")));
  EXPECT_EQ(table_rows(section(measured, "### Cost and carbon")), 54);
  const std::string published = section(md, "## Source: published:");
  ASSERT_FALSE(published.empty()) << md;
  EXPECT_THAT(published, HasSubstr("### The study's claims against its own table"));
  EXPECT_THAT(md, Not(HasSubstr("| n/a | n/a | n/a | n/a | n/a |")));
}

void StudySmoke::dashboard_holds_the_study() {
  if (eco::report::dashboard_page().empty()) {
    EXPECT_THAT(smoke_.output, HasSubstr("this build has no dashboard front end"));
  } else {
    const std::string html = read_file(dir_ / "smoke-report.html");
    EXPECT_THAT(html, HasSubstr("synthetic:tiny-phi3"));
  }
  const auto doc = eco::report::build_study({db()});
  EXPECT_EQ(doc["configs"].size(), 54u);
  EXPECT_EQ(doc["published"].size(), 1u);
  EXPECT_FALSE(doc["comparisons"].empty());
  EXPECT_FALSE(doc["fits"].empty());
  EXPECT_FALSE(doc["timelines"].empty());
}

void StudySmoke::findings_come_from_the_database() {
  const Outcome f = run(fmt::format("study findings --db {}", db().string()), env_);
  ASSERT_EQ(f.code, 0) << f.output;
  EXPECT_EQ(read_file(dir_ / "smoke-findings.md"), f.output);
  // Claim 1: int8 (fused and reference-bnb) on each of the 7 models.
  EXPECT_EQ(table_rows(section(f.output, "## Claim 1")), 14) << f.output;
  // Claim 2: thresholds 0, 1, 2, 4, 6, 8 on the threshold part's model.
  EXPECT_EQ(table_rows(section(f.output, "## Claim 2")), 6) << f.output;
  EXPECT_THAT(section(f.output, "## Claim 2"), Not(HasSubstr("not scored")));
  EXPECT_THAT(f.output, HasSubstr("## Claim 3"));
  EXPECT_EQ(table_rows(section(f.output, "## Claim 4")), 4) << f.output;
  // Every configuration of the model of parts 2 and 3: 6 + 4 thresholds + 4 x 2 batch sizes.
  EXPECT_EQ(table_rows(section(f.output, "## Where the energy goes")), 18) << f.output;
  // A figure checked against the runs: fp16 J/token of the first model, mean of its measured
  // runs of the last round, as the table prints it (4 significant digits).
  auto st = eco::store::Store::open_read_only(db());
  auto q = eco::store::test_db(st).prepare(
      "SELECT avg(r.j_per_token) FROM runs r JOIN configurations c ON c.id = r.config_id "
      "JOIN models m ON m.id = c.model_id JOIN formats f ON f.id = c.format_id "
      "WHERE m.source LIKE 'synthetic:tiny?seed=0%' AND f.name = 'fp16' AND c.batch = 1 "
      "AND r.is_warmup = 0 AND r.round = (SELECT max(round) FROM runs WHERE config_id = c.id)");
  ASSERT_TRUE(q.step());
  const double mean = q.get_double(0);
  EXPECT_THAT(section(f.output, "## Claim 1"), HasSubstr(fmt::format("| {:.4g} |", mean)));
}

void StudySmoke::a_second_run_measures_nothing() {
  const Outcome again = run(fmt::format("study run studies/eco-2026.toml --smoke --db {} "
                                        "--out-dir {}",
                                        db().string(), dir_.string()),
                            env_);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("measured 0 configuration(s), 0 failed, scored 0"));
}

}  // namespace

namespace {

class StudyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_study_cli_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    env_ = {{"ECO_CACHE_DIR", (fs::temp_directory_path() / "eco_study_cache").string()},
            {"ECO_NVML_LIBRARY", ECO_NVML_STUB},
            {"ECO_THREADS", "1"},  // one core: tests beside it time millisecond windows
            {"ECO_NVML_STUB_SCRIPT", "device name=Stand-in_GPU period_ms=1; power 0 0 150"}};
    std::ofstream(dir_ / "small.toml") << R"(
[[part]]
name = "two"
models = ["synthetic:tiny"]
formats = ["fp16", "int8"]
batches = [1, 2]
)";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string small() const { return (dir_ / "small.toml").string(); }
  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(StudyCli, ABudgetStopsCleanlyAndTheNextCallFinishes) {
  const std::string db = (dir_ / "s.db").string();
  env_["ECO_CACHE_DIR"] = (dir_ / "cache").string();  // its own: this test evicts the model
  const Outcome first =
      run(fmt::format("study run {} --smoke --db {} --budget 1s", small(), db), env_);
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("stopped by --budget"));
  EXPECT_THAT(first.output, HasSubstr("run the same command again"));
  {
    auto st = eco::store::Store::open_read_only(db);
    // Nothing was timed before the first configuration, so it ran; the second was expected to
    // end past the deadline (1 s less the reserve) and was not started.
    EXPECT_EQ(eco::store::test_db(st).query_int(
                  "SELECT count(*) FROM configurations WHERE status = 'done'"),
              1);
    EXPECT_EQ(eco::store::test_db(st).query_int(
                  "SELECT count(*) FROM configurations WHERE status = 'running'"),
              0);
    EXPECT_EQ(eco::store::test_db(st).query_int("SELECT count(*) FROM quality_scores"), 0);
  }
  // The model stays cached while work remains for it; --evict-synthetic removes it once the
  // call is done with it.
  const fs::path model_dir = dir_ / "cache" / "synthetic" / "tiny-s0";
  EXPECT_TRUE(fs::exists(model_dir / "config.json"));
  const Outcome second =
      run(fmt::format("study run {} --smoke --db {} --evict-synthetic", small(), db), env_);
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("study: complete (4 configurations, 2 quality scores)"));
  EXPECT_THAT(second.output, HasSubstr("measured 3 configuration(s)"));
  EXPECT_FALSE(fs::exists(model_dir));
}

// Every model of one call is net of the same idle baseline: metered by the first model's
// sweep, reused by the next (metered again after GPU work it would read the card's warm rest
// power), with the counter period likewise.
// One idle baseline per study: metered by the first call's first sweep, reused by its later
// sweeps and by every later call that resumes the study on the same GPU.
TEST_F(StudyCli, OneIdleBaselinePerStudy) {
  std::ofstream(dir_ / "two.toml") << R"(
[sweep]
prompt_lens = 8
gen_lens = 8
device = "cpu"
[sweep.protocol]
idle_seconds = 0.05
idle_recheck_s = 0
stabilise_max_s = 0
warmup = 1
runs = 3
max_runs = 3
min_counter_updates = 3
sample_interval_s = 0.002
max_reruns = 0
cooldown_s = 0
[quality]
enabled = false
[[part]]
name = "two models"
models = ["synthetic:tiny?seed=1", "synthetic:tiny?seed=2"]
formats = ["fp16"]
batches = [1]
)";
  const std::string third = R"(
[[part]]
name = "a third model, measured by a later call"
models = ["synthetic:tiny?seed=3"]
formats = ["fp16"]
batches = [1]
)";
  const std::string db = (dir_ / "s.db").string();
  const Outcome o =
      run(fmt::format("study run {} --db {}", (dir_ / "two.toml").string(), db), env_);
  ASSERT_EQ(o.code, 0) << o.output;
  std::ofstream(dir_ / "two.toml", std::ios::app) << third;
  const Outcome later =
      run(fmt::format("study run {} --db {}", (dir_ / "two.toml").string(), db), env_);
  ASSERT_EQ(later.code, 0) << later.output;
  EXPECT_THAT(later.output, HasSubstr("of this study at"));
  auto st = eco::store::Store::open_read_only(db);
  auto& sql = eco::store::test_db(st);
  EXPECT_EQ(sql.query_int("SELECT count(*) FROM configurations WHERE status = 'done'"), 3);
  const std::string idle = "FROM protocol_events WHERE step = 'idle-baseline'";
  EXPECT_EQ(sql.query_int("SELECT count(*) " + idle + " AND outcome = 'measured'"), 1);
  EXPECT_EQ(sql.query_int("SELECT count(*) " + idle + " AND outcome = 'reused'"), 2);
  // The counter period is measured once per call (it costs about a second).
  const std::string period = "FROM protocol_events WHERE step = 'counter-period'";
  EXPECT_EQ(sql.query_int("SELECT count(*) " + period + " AND outcome = 'measured'"), 2);
  EXPECT_EQ(sql.query_int("SELECT count(*) " + period + " AND outcome = 'reused'"), 1);
  EXPECT_EQ(sql.query_int("SELECT count(DISTINCT json_extract(details_json, '$.idle_power_w')) "
                          "FROM protocol_events WHERE step = 'idle-baseline'"),
            1);
  // Each configuration is net of that one baseline.
  EXPECT_EQ(sql.query_int("SELECT count(DISTINCT idle_power_w) FROM runs"), 1);
}

TEST_F(StudyCli, BadInputIsNamed) {
  const std::string db = (dir_ / "s.db").string();
  Outcome o = run(fmt::format("study run {} --db {}", (dir_ / "none.toml").string(), db), env_);
  EXPECT_EQ(o.code, 1);
  EXPECT_THAT(o.output, HasSubstr("none.toml': not found"));
  o = run(fmt::format("study run {} --smoke --db {} --budget 8x", small(), db), env_);
  EXPECT_EQ(o.code, 1);
  EXPECT_THAT(o.output, HasSubstr("--budget '8x'"));
  std::ofstream(dir_ / "bad.toml") << "[[part]]\nname = 'a'\nmodels = ['synthetic:tiny']\n"
                                      "formats = ['int8?threshold=x']\nbatches = [1]\n";
  o = run(fmt::format("study run {} --db {}", (dir_ / "bad.toml").string(), db), env_);
  EXPECT_EQ(o.code, 1);
  EXPECT_THAT(o.output, HasSubstr("format 'int8?threshold=x': threshold must be a number"));
  EXPECT_FALSE(fs::exists(db));  // nothing was created for a refused study
  o = run(fmt::format("study findings --db {}", (dir_ / "absent.db").string()), env_);
  EXPECT_NE(o.code, 0);
  EXPECT_THAT(o.output, HasSubstr("absent.db"));
}

}  // namespace
