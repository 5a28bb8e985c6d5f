#include "report/html.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "e2e/fixture_db.h"
#include "report/asset.h"
#include "report/study.h"
#include "store/reader.h"
#include "store/schema.h"

namespace eco::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class HtmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_html_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = dir_ / "fixture.db";
    fixture::write_fixture(db_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_, db_;
};

TEST(JsonForScript, MarkupInStringsCannotCloseTheElement) {
  const json v{{"model", "</script><script>alert(1)</script>"}, {"note", "a & b > c"}};
  const std::string text = json_for_script(v);
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(text.find('>'), std::string::npos);
  EXPECT_EQ(text.find('&'), std::string::npos);
  EXPECT_EQ(json::parse(text), v);  // the same data once parsed
}

TEST(JsonForScript, InvalidUtf8FromADatabaseIsReplacedNotFatal) {
  const json v{{"model", std::string("bad \xff byte")}};
  EXPECT_NO_THROW(json::parse(json_for_script(v)));
}

TEST_F(HtmlTest, ReportIsOneSelfContainedFile) {
  if (dashboard_page().empty()) GTEST_SKIP() << "built without the dashboard front end (npm ci)";
  const fs::path out = dir_ / "report.html";
  write_html({db_}, out);
  const std::string page = slurp(out);
  EXPECT_THAT(page, ::testing::HasSubstr("id=\"eco-data\""));
  EXPECT_EQ(page.find("<!--ECO_DATA-->"), std::string::npos);
  // Nothing fetched from elsewhere: no external script, stylesheet or image.
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  const auto element = [&](const std::string& id) {
    const std::string open = fmt::format("<script id=\"{}\" type=\"application/json\">", id);
    const size_t start = page.find(open);
    if (start == std::string::npos) return json();
    const size_t body = start + open.size();
    return json::parse(page.substr(body, page.find("</script>", body) - body));
  };
  const json doc = element("eco-data");
  EXPECT_EQ(doc["configs"].size(), 11u);
  EXPECT_EQ(doc["configs"][9]["model"], fixture::kXssModel);
  // Runs and timelines sit in elements of their own, parsed by the page only where a view
  // shows them: each configuration's runs as rows in one, each run's timeline in one.
  EXPECT_FALSE(doc.contains("runs"));
  EXPECT_FALSE(doc.contains("timelines"));
  const json built = build_study({db_});
  const json& columns = built["runs"];
  ASSERT_EQ(doc["run_columns"].size(), columns.size());
  size_t rows = 0, configs_with_runs = 0;
  for (const auto& c : doc["configs"]) {
    const json runs = element("eco-runs-" + c["key"].get<std::string>());
    if (runs.is_null()) continue;
    ++configs_with_runs;
    for (const auto& row : runs) {
      ASSERT_EQ(row.size(), doc["run_columns"].size());
      for (size_t i = 0; i < row.size(); ++i)  // the same value as the document's column
        EXPECT_EQ(row[i], columns[doc["run_columns"][i].get<std::string>()][rows]);
      EXPECT_EQ(columns["config"][rows], c["key"]);
      ++rows;
    }
  }
  EXPECT_EQ(rows, doc["run_count"].get<size_t>());
  EXPECT_GT(rows, 11u);
  ASSERT_FALSE(built["timelines"].empty());
  for (const auto& [run, timeline] : built["timelines"].items())
    EXPECT_EQ(element("eco-timeline-" + run), timeline) << run;
  // The page's own script elements only (the document, the runs, the timelines, the code): the
  // XSS model's markup did not add any.
  EXPECT_EQ(count(page, "<script"), 2 + configs_with_runs + built["timelines"].size());
  EXPECT_EQ(page.find("window.__xss=1</script>"), std::string::npos);
  EXPECT_TRUE(fs::exists(db_));
  for (const auto& e : fs::directory_iterator(dir_))  // no temporary left behind
    EXPECT_EQ(e.path().string().find(".writing-"), std::string::npos);
}

TEST_F(HtmlTest, RefusesToWriteOverADatabase) {
  const std::string before = slurp(db_);
  try {
    write_html({db_}, db_);
    FAIL() << "wrote the report over its database";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("is the database"));
  }
  const fs::path other = dir_ / "other.db";
  fixture::write_fixture(other);
  const std::string other_before = slurp(other);
  try {
    write_html({db_}, other);
    FAIL() << "wrote the report over another SQLite file";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("is an SQLite database"));
  }
  EXPECT_EQ(slurp(db_), before);
  EXPECT_EQ(slurp(other), other_before);
}

TEST_F(HtmlTest, BadOutputPathsAreReportedWithTheFix) {
  EXPECT_THROW(write_html({db_}, dir_ / "missing-folder" / "r.html"), Error);
  EXPECT_THROW(write_html({db_}, dir_), Error);
  EXPECT_THROW(write_html({}, dir_ / "r.html"), Error);
}

TEST_F(HtmlTest, ReaderRejectsFilesThatAreNotStudies) {
  const fs::path text = dir_ / "notes.txt";
  std::ofstream(text) << "not a database";
  try {
    store::StudyReader r(text);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("notes.txt"));
  }
  EXPECT_THROW(store::StudyReader(dir_ / "absent.db"), Error);
  const fs::path foreign = dir_ / "foreign.db";
  {
    store::Database d(foreign.string(), store::Database::Mode::Create);
    d.exec("CREATE TABLE t(x)");
  }
  try {
    store::StudyReader r(foreign);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not an ecocompute study"));
  }
  {
    store::Database d(db_.string(), store::Database::Mode::ReadWrite);
    d.exec(fmt::format("PRAGMA user_version = {}", store::schema_version() + 1));
  }
  try {
    store::StudyReader r(db_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("newer ecocompute"));
  }
}

TEST_F(HtmlTest, ReaderReadsAStudyOfTheFirstSchemaVersion) {
  const fs::path old = dir_ / "v1.db";
  fixture::Spec spec;
  spec.extra_tables = false;
  fixture::write_fixture(old, spec);
  {  // as a study written before any later migration
    store::Database d(old.string(), store::Database::Mode::ReadWrite);
    d.exec("DROP TABLE IF EXISTS quality_scores");
    d.exec("DROP TABLE IF EXISTS published_imports");
    d.exec("PRAGMA user_version = 1");
  }
  const std::string before = slurp(old);
  store::StudyReader r(old);
  EXPECT_EQ(r.schema_version(), 1);
  EXPECT_EQ(r.configs().size(), 11u);
  EXPECT_EQ(slurp(old), before);  // read, not upgraded
}

TEST_F(HtmlTest, ReaderToleratesStudiesWithoutTheOptionalTables) {
  const fs::path plain = dir_ / "plain.db";
  fixture::Spec spec;
  spec.extra_tables = false;
  fixture::write_fixture(plain, spec);
  {  // the schema creates published_imports; a study from before `import` existed lacks it
    store::Database d(plain.string(), store::Database::Mode::ReadWrite);
    d.exec("DROP TABLE IF EXISTS published_imports");
  }
  store::StudyReader r(plain);
  EXPECT_FALSE(r.has_table("published_imports"));
  EXPECT_TRUE(r.table("published_imports").rows.empty());
  EXPECT_EQ(r.configs().size(), 11u);
}

}  // namespace
}  // namespace eco::report
