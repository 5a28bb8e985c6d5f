#include "report/study.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "e2e/fixture_db.h"
#include "report/asset.h"
#include "report/html.h"
#include "report/server.h"
#include "store/reader.h"
#include "store/schema.h"

namespace eco::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class StudyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_report_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

const json* find_config(const json& doc, const std::string& format, int batch,
                        const std::string& model = "synthetic:tiny") {
  for (const auto& c : doc["configs"])
    if (c["format"] == format && c["batch"] == batch && c["model"] == model) return &c;
  return nullptr;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The same study through both ways out: the report file (its document, and the runs in their
// per-configuration elements) and the server's JSON API.
void expect_report_and_api_hold(const fs::path& db, size_t configs, size_t runs) {
  if (dashboard_page().empty()) return;  // a build without the front end (not under CI)
  const fs::path html = db.string() + ".html";
  write_html({db}, html);
  const std::string page = slurp(html);
  const std::string open = "<script id=\"eco-data\" type=\"application/json\">";
  const size_t at = page.find(open) + open.size();
  const json doc = json::parse(page.substr(at, page.find("</script>", at) - at));
  EXPECT_EQ(doc["configs"].size(), configs);
  EXPECT_EQ(doc["run_count"].get<size_t>(), runs);
  size_t rows = 0;
  for (const auto& c : doc["configs"]) {
    const std::string tag =
        "<script id=\"eco-runs-" + c["key"].get<std::string>() + "\" type=\"application/json\">";
    const size_t start = page.find(tag);
    if (start == std::string::npos) continue;
    const size_t body = start + tag.size();
    rows += json::parse(page.substr(body, page.find("</script>", body) - body)).size();
  }
  EXPECT_EQ(rows, runs);
  DashboardServer server({{db}, "127.0.0.1", 0});
  const Reply reply = server.handle("/api/study", {});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json study = json::parse(reply.body);
  EXPECT_EQ(study["configs"].size(), configs);
  EXPECT_EQ(study["runs"]["key"].size(), runs);
  EXPECT_EQ(study["run_count"].get<size_t>(), runs);
  if (runs > 0) {
    const std::string last = study["runs"]["key"].back().get<std::string>();
    const Reply timeline = server.handle("/api/timeline", {{"run", last}});
    EXPECT_EQ(timeline.status, 200) << timeline.body;
    EXPECT_FALSE(json::parse(timeline.body)["t"].empty());
  }
}

TEST_F(StudyTest, EmptyStudyHasEmptyTablesNotMissingOnes) {
  const fs::path db = dir_ / "empty.db";
  { auto st = store::Store::open(db); }
  const json doc = build_study({db});
  EXPECT_EQ(doc["configs"].size(), 0u);
  EXPECT_TRUE(doc["runs"]["key"].is_array());
  EXPECT_EQ(doc["runs"]["key"].size(), 0u);
  EXPECT_EQ(doc["run_count"], 0);
  EXPECT_EQ(doc["comparisons"].size(), 0u);
  EXPECT_EQ(doc["fits"].size(), 0u);
  EXPECT_EQ(doc["published"].size(), 0u);
  ASSERT_EQ(doc["databases"].size(), 1u);
  EXPECT_EQ(doc["databases"][0]["path"], db.string());
  // The cost inputs the page starts from, with analysis/'s grid table to choose a region from.
  EXPECT_GT(doc["cost"]["usd_per_kwh"].get<double>(), 0);
  const auto& grid = doc["cost"]["grid"];
  EXPECT_TRUE(std::any_of(grid.begin(), grid.end(), [](const json& g) {
    return g["region"] == "WORLD" && g["g_per_kwh"].get<double>() > 0;
  }));
  expect_report_and_api_hold(db, 0, 0);
}

TEST_F(StudyTest, SingleRunHasItsValueAndNoInterval) {
  const fs::path db = dir_ / "one.db";
  fixture::Spec spec;
  spec.configs_per_model = 1;
  spec.measured_runs = 1;
  spec.xss_model = spec.failed_config = spec.extra_tables = false;
  fixture::write_fixture(db, spec);
  const json doc = build_study({db});
  ASSERT_EQ(doc["configs"].size(), 1u);
  const auto& c = doc["configs"][0];
  EXPECT_EQ(c["n"], 1);
  const auto& m = c["metrics"]["j_per_token"];
  EXPECT_EQ(m["n"], 1);
  EXPECT_EQ(m["ci_low"], m["mean"]);         // one run: no spread to estimate
  EXPECT_EQ(doc["runs"]["key"].size(), 2u);  // the warm-up and the measured run
  EXPECT_EQ(doc["comparisons"].size(), 0u);  // nothing to compare with
  EXPECT_EQ(doc["fits"].size(), 0u);
  // Prefill then decode, each in its own window, placed from the phases' durations.
  const auto& w = doc["runs"]["windows"][1];
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0][0], "prefill");
  EXPECT_EQ(w[1][0], "decode");
  EXPECT_EQ(w[1][1], w[0][2]);
  EXPECT_GT(w[1][2].get<double>(), w[1][1].get<double>());
  // The measured run's timeline is inline, the warm-up had none.
  EXPECT_EQ(doc["timelines"].size(), 1u);
  EXPECT_EQ(doc["databases"][0]["timelines"], "all");
  expect_report_and_api_hold(db, 1, 2);
}

TEST_F(StudyTest, ComparesFormatsAgainstFp16WithWelchAndTheSplit) {
  const fs::path db = dir_ / "fixture.db";
  fixture::write_fixture(db);
  const json doc = build_study({db});
  const json* fp16 = find_config(doc, "fp16", 1);
  const json* int8 = find_config(doc, "int8", 1);
  ASSERT_TRUE(fp16 && int8);
  const json* cmp = nullptr;
  for (const auto& c : doc["comparisons"])
    if (c["config"] == (*int8)["key"]) cmp = &c;
  ASSERT_NE(cmp, nullptr);
  EXPECT_EQ((*cmp)["baseline"], (*fp16)["key"]);
  // The fixture's int8 costs 0.9 / 0.5 of fp16's J/token, with a +-2 % jitter.
  EXPECT_NEAR((*cmp)["delta_pct"].get<double>(), 80.0, 5.0);
  EXPECT_LT((*cmp)["p_value"].get<double>(), 1e-4);
  EXPECT_LT((*cmp)["diff_ci_low"].get<double>(), (*cmp)["diff_ci_high"].get<double>());
  const double e = (*cmp)["energy_ratio"], t = (*cmp)["time_ratio"], p = (*cmp)["power_ratio"];
  EXPECT_NEAR(e, t * p, 1e-12);
  EXPECT_NEAR(e, 1 + (*cmp)["delta_pct"].get<double>() / 100, 1e-9);
  // The failed configuration has no runs and is compared with a reason, not a number.
  const json* pure = find_config(doc, "int8-pure", 1);
  ASSERT_TRUE(pure);
  EXPECT_EQ((*pure)["n"], 0);
  EXPECT_EQ((*pure)["status"], "failed");
  for (const auto& c : doc["comparisons"])
    if (c["config"] == (*pure)["key"]) {
      EXPECT_EQ(c["note"], "energy not measured");
    }
}

TEST_F(StudyTest, FitsTheBatchLawPerFormat) {
  const fs::path db = dir_ / "fixture.db";
  fixture::write_fixture(db);
  const json doc = build_study({db});
  int fitted = 0;
  for (const auto& f : doc["fits"]) {
    if (!f.contains("b")) continue;
    ++fitted;
    EXPECT_EQ(f["n"], 15);  // 3 batch sizes x 5 measured runs
    EXPECT_NEAR(f["b"].get<double>(), -0.8, 0.02) << f.dump();
    EXPECT_LT(f["b_ci_low"].get<double>(), -0.8 + 0.02);
    EXPECT_GT(f["r_squared"].get<double>(), 0.99);
  }
  EXPECT_EQ(fitted, 3);  // fp16, int8, nf4; the XSS model and int8-pure have one batch size
}

TEST_F(StudyTest, QualityOnlyWhereMeasuredAndPublishedTablesCarried) {
  const fs::path db = dir_ / "fixture.db";
  fixture::write_fixture(db);
  const json doc = build_study({db});
  int with_quality = 0;
  for (const auto& c : doc["configs"])
    if (!c["quality"].is_null()) {
      ++with_quality;
      EXPECT_TRUE(c["quality"]["kld"].is_number());
      EXPECT_EQ(c["quality"]["base_format"], "fp16");
    }
  EXPECT_EQ(with_quality, 10);  // every configuration but the failed int8-pure, never scored
  EXPECT_EQ((*find_config(doc, "int8", 4))["quality"]["kld"], 0.004);
  ASSERT_EQ(doc["published"].size(), 1u);
  const auto& pub = doc["published"][0];
  EXPECT_EQ(pub["table"], "fixture_published.csv");
  EXPECT_FALSE(pub.contains("error")) << pub["error"];
  auto col = [&](const char* name) {
    const auto& c = pub["columns"];
    return size_t(std::find(c.begin(), c.end(), name) - c.begin());
  };
  ASSERT_EQ(pub["rows"].size(), 3u);  // the comment line is not a row
  const auto& int8 = pub["rows"][1];
  EXPECT_EQ(int8[col("energy_j_per_1k_tok")], 9000);
  EXPECT_EQ(int8[col("notes")], "energy disagrees, on purpose");  // a quoted comma
  // analysis/'s check flags the row whose energy disagrees with its power and throughput only.
  ASSERT_EQ(int8[col("findings")].size(), 1u);
  EXPECT_THAT(int8[col("findings")][0].get<std::string>(), ::testing::HasSubstr("energy-vs-power"));
  EXPECT_EQ(pub["rows"][0][col("findings")].size(), 0u);
  EXPECT_EQ(pub["rows"][2][col("findings")].size(), 0u);
  ASSERT_EQ(pub["claims"].size(), 1u);
  EXPECT_EQ(pub["claims"][0]["id"], "fx-int8");
  EXPECT_FALSE(pub["claims"][0]["consistent"]);
}

TEST_F(StudyTest, SeveralDatabasesKeepTheirKeysApart) {
  const fs::path a = dir_ / "a.db", b = dir_ / "b.db";
  fixture::write_fixture(a);
  fixture::Spec spec;
  spec.configs_per_model = 2;
  spec.xss_model = spec.failed_config = spec.extra_tables = false;
  fixture::write_fixture(b, spec);
  const json doc = build_study({a, b});
  EXPECT_EQ(doc["configs"].size(), 13u);
  EXPECT_EQ(doc["configs"][11]["key"], "1:1");
  EXPECT_EQ(doc["databases"].size(), 2u);
}

TEST_F(StudyTest, TimelineBudgetLeavesRunsOutAndSaysSo) {
  const fs::path db = dir_ / "fixture.db";
  fixture::write_fixture(db);
  StudyOptions o;
  o.max_timeline_points_total = 100;  // two runs of 40 samples
  const json doc = build_study({db}, o);
  EXPECT_EQ(doc["timelines"].size(), 2u);
  EXPECT_EQ(doc["databases"][0]["timelines"], "partial");
  EXPECT_THAT(doc["databases"][0]["timelines_note"].get<std::string>(),
              ::testing::HasSubstr("ecocompute serve"));
  o.max_timeline_points_per_run = 10;  // thinned, not cut
  const json thin = build_study({db}, o);
  const auto& first = thin["timelines"].begin().value();
  EXPECT_EQ(first["t"].size(), 10u);
  EXPECT_TRUE(first.contains("thinned"));
}

TEST_F(StudyTest, RunTimelineOfAMissingRunIsAnError) {
  const fs::path db = dir_ / "fixture.db";
  fixture::write_fixture(db);
  EXPECT_EQ(run_timeline(db, 2)["t"].size(), 40u);
  EXPECT_EQ(run_timeline(db, 1)["t"].size(), 0u);  // a warm-up: exists, no samples
  EXPECT_THROW(run_timeline(db, 999999), Error);
}

TEST_F(StudyTest, LargeStudyOfTenThousandRuns) {
  const fs::path db = dir_ / "large.db";
  fixture::Spec spec;
  spec.configs_per_model = 1000;
  spec.measured_runs = 9;  // + 1 warm-up = 10 runs per configuration
  spec.timeline_samples = 10;
  spec.xss_model = spec.failed_config = spec.extra_tables = false;
  fixture::write_fixture(db, spec);
  const json doc = build_study({db});
  EXPECT_EQ(doc["configs"].size(), 1000u);
  EXPECT_EQ(doc["runs"]["key"].size(), 10000u);
  EXPECT_EQ(doc["run_count"], 10000);
  for (const auto& [name, column] : doc["runs"].items()) EXPECT_EQ(column.size(), 10000u) << name;
  EXPECT_EQ(doc["timelines"].size(), 9000u);
  const std::string text = json_for_script(doc);
  EXPECT_LT(text.size(), size_t(40) << 20) << "the report would be too large to open";
  expect_report_and_api_hold(db, 1000, 10000);
}

}  // namespace
}  // namespace eco::report
