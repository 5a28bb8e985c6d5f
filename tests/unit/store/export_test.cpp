#include "store/export.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::store {
namespace {

namespace fs = std::filesystem;

// A minimal RFC 4180 reader: enough to read back what render() writes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  rows.pop_back();  // after the final newline
  return rows;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() / fmt::format("eco_export_{}.db", ::getpid());
    fs::remove(path_);
    auto store = Store::open(path_);
    const int64_t m = store.upsert_model({"synthetic:tiny", "tiny", 3, "{\"a\":1}", "{}", 10});
    const int64_t f = store.upsert_format({"int8", "{\"threshold\":6}"});
    const int64_t cfg = store.create_config({m, f, 4, 16, 8, "cpu"}, "{}");
    const int64_t session = store.add_session(
        {.started_at = utc_now(), .command = "t", .eco_version = "0", .eco_git_commit = "x"});
    store.start_config(cfg, session, "cpu, \"quoted\" engine", "{}", "no NVML: driver not found");
    for (int i = 0; i < 3; ++i) {
      RunRecord r;
      r.config_id = cfg;
      r.index = i;
      r.warmup = i == 0;
      r.batch = 4;
      r.seconds = 0.1 * (i + 1) / 3.0;
      r.decode_tok_s = 1e6 / 7.0 + i;
      r.net_energy_j = i == 2 ? kNotMeasured : 1.0 / (i + 3);
      r.flags = i == 1 ? "short-window,rerun" : "";
      store.insert_run(r);
    }
    store.finish_config(cfg, GateOutcome::PassedAfterRerun, "{}", 2,
                        {{"decode_tok_s", 1, 2, 142858.2, 0.7, 0.0000049, 142851.9, 142864.5}});
  }
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_.string() + suffix);
  }
  fs::path path_;
};

void expect_cell_equals_text(const Cell& c, const std::string& text) {
  if (std::holds_alternative<std::monostate>(c))
    EXPECT_EQ(text, "");
  else if (const auto* i = std::get_if<int64_t>(&c))
    EXPECT_EQ(std::stoll(text), *i);
  else if (const auto* d = std::get_if<double>(&c))
    EXPECT_EQ(std::stod(text), *d);
  else
    EXPECT_EQ(text, std::get<std::string>(c));
}

void expect_cell_equals_json(const Cell& c, const nlohmann::json& j) {
  if (std::holds_alternative<std::monostate>(c))
    EXPECT_TRUE(j.is_null());
  else if (const auto* i = std::get_if<int64_t>(&c))
    EXPECT_EQ(j.get<int64_t>(), *i);
  else if (const auto* d = std::get_if<double>(&c))
    EXPECT_EQ(j.get<double>(), *d);
  else
    EXPECT_EQ(j.get<std::string>(), std::get<std::string>(c));
}

TEST_F(ExportTest, CsvRoundTripsEveryStoredValue) {
  auto store = Store::open_read_only(path_);
  for (auto which : {ExportTable::Runs, ExportTable::Configs}) {
    const Table t = export_table(store, which);
    const auto rows = parse_csv(render(t, ExportFormat::Csv));
    ASSERT_EQ(rows.size(), t.rows.size() + 1);
    EXPECT_EQ(rows[0], t.columns);
    for (size_t r = 0; r < t.rows.size(); ++r)
      for (size_t c = 0; c < t.columns.size(); ++c) {
        SCOPED_TRACE(t.columns[c]);
        expect_cell_equals_text(t.rows[r][c], rows[r + 1][c]);
      }
  }
  // The stored values themselves, not only the table, come back.
  const auto runs = parse_csv(render(export_table(store, ExportTable::Runs), ExportFormat::Csv));
  const auto col =
      size_t(std::find(runs[0].begin(), runs[0].end(), "net_energy_j") - runs[0].begin());
  EXPECT_EQ(std::stod(runs[2][col]), 1.0 / 4);
  EXPECT_EQ(runs[3][col], "");  // not measured
}

TEST_F(ExportTest, JsonAndJsonlRoundTrip) {
  auto store = Store::open_read_only(path_);
  const Table t = export_table(store, ExportTable::Runs);
  const auto arr = nlohmann::json::parse(render(t, ExportFormat::Json));
  ASSERT_EQ(arr.size(), t.rows.size());
  std::istringstream lines(render(t, ExportFormat::Jsonl));
  std::string line;
  size_t r = 0;
  while (std::getline(lines, line)) {
    const auto obj = nlohmann::json::parse(line);
    for (size_t c = 0; c < t.columns.size(); ++c) {
      SCOPED_TRACE(t.columns[c]);
      expect_cell_equals_json(t.rows[r][c], obj.at(t.columns[c]));
      expect_cell_equals_json(t.rows[r][c], arr[r].at(t.columns[c]));
    }
    ++r;
  }
  EXPECT_EQ(r, t.rows.size());
  EXPECT_EQ(arr[1]["decode_tok_s"].get<double>(), 1e6 / 7.0 + 1);
}

TEST_F(ExportTest, MarkdownSaysNotMeasured) {
  auto store = Store::open_read_only(path_);
  const std::string md = render(export_table(store, ExportTable::Runs), ExportFormat::Md);
  EXPECT_THAT(md, ::testing::HasSubstr("not measured"));
  const std::string summary = render_summary(store);
  EXPECT_THAT(summary, ::testing::HasSubstr("passed-after-rerun"));
  EXPECT_THAT(summary, ::testing::HasSubstr("energy not measured: no NVML: driver not found"));
  EXPECT_THAT(summary, ::testing::HasSubstr("J/1k tokens"));
  EXPECT_THAT(summary, ::testing::HasSubstr("J/request"));
  // Numbers for people: fixed decimals, the sd to the mean's decimals, never an exponent.
  EXPECT_THAT(summary, ::testing::HasSubstr("142858 ± 1 "));
  EXPECT_THAT(summary, ::testing::Not(::testing::HasSubstr("e+")));
  EXPECT_THROW(parse_export_format("xml"), Error);
}

// Text a spreadsheet would run as a formula is written with a leading apostrophe (text to any
// spreadsheet); numbers, negative ones included, are written as numbers.
TEST(ExportCsv, FormulaTextIsNeutralisedAndNumbersStayNumbers) {
  const std::string hyperlink = "=HYPERLINK(\"http://example.invalid\",\"click\")";
  Table t;
  t.columns = {"model", "value", "count", "note"};
  t.rows = {{hyperlink, -1.5, int64_t{-3}, std::string("-1.5")},
            {std::string("+cmd"), -2e-7, int64_t{4}, std::string("@SUM(A1)")},
            {std::string("\tx"), 0.5, std::monostate{}, std::string("\r=1")},
            {std::string("-2+3"), 1.0, int64_t{0}, std::string("a-b=c")}};
  EXPECT_EQ(render(t, ExportFormat::Csv),
            "model,value,count,note\n"
            "\"'=HYPERLINK(\"\"http://example.invalid\"\",\"\"click\"\")\",-1.5,-3,-1.5\n"
            "'+cmd,-2e-07,4,'@SUM(A1)\n"
            "'\tx,0.5,,\"'\r=1\"\n"
            "'-2+3,1,0,a-b=c\n");
}

TEST_F(ExportTest, AModelNamedAsAFormulaIsTextInTheCsv) {
  const std::string hyperlink = "=HYPERLINK(\"http://example.invalid\",\"click\")";
  {
    auto store = Store::open(path_);
    const int64_t m = store.upsert_model({hyperlink, "x", 3, "{}", "{}", 10});
    const int64_t f = store.upsert_format({"int8", "{\"threshold\":6}"});
    const int64_t cfg = store.create_config({m, f, 1, 16, 8, "cpu"}, "{}");
    const int64_t session = store.add_session(
        {.started_at = utc_now(), .command = "t", .eco_version = "0", .eco_git_commit = "x"});
    store.start_config(cfg, session, "cpu", "{}", "");
    RunRecord r;
    r.config_id = cfg;
    r.batch = 1;
    r.seconds = 0.25;
    r.net_energy_j = -1.5;  // a negative number
    store.insert_run(r);
  }
  auto store = Store::open_read_only(path_);
  const auto rows = parse_csv(render(export_table(store, ExportTable::Runs), ExportFormat::Csv));
  const auto col = [&](const std::string& name) {
    return size_t(std::find(rows[0].begin(), rows[0].end(), name) - rows[0].begin());
  };
  ASSERT_LT(col("model"), rows[0].size());
  ASSERT_LT(col("net_energy_j"), rows[0].size());
  const auto& last = rows.back();
  EXPECT_EQ(last[col("model")], "'" + hyperlink);
  EXPECT_EQ(last[col("net_energy_j")], "-1.5");
}

}  // namespace
}  // namespace eco::store
