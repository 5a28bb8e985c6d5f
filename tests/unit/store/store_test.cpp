#include "store/store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "store/schema.h"
#include "store_access.h"

namespace eco::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_store_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

RunRecord sample_run(int64_t config_id, int idx) {
  RunRecord r;
  r.config_id = config_id;
  r.index = idx;
  r.k = 3;
  r.batch = 2;
  r.prompt_tokens = 16;
  r.generated_tokens = 8;
  r.decode_tokens = 6;
  r.seconds = 0.5 + idx;
  r.prefill_seconds = 0.1;
  r.decode_seconds = 0.4;
  r.decode_tok_s = 15.0;
  r.gross_energy_j = 100.125;
  r.net_energy_j = 40.0 / 3.0;  // not exactly representable in decimal: tests exact round trip
  r.flags = "short-window";
  PhaseRecord p;
  p.name = "prefill";
  p.seconds = 0.1;
  p.tokens = 16;
  p.net_energy_j = 2.5;
  p.counter_updates = 12;
  r.phases.push_back(p);
  r.timeline.push_back({0.0, 0, 120.5, 40.0, 1980, 2619});
  r.timeline.push_back({0.1, 0, 130.5, 41.0, 1980, 2619});
  return r;
}

TEST_F(StoreTest, CreatesWithIdVersionAndWal) {
  const auto path = dir_ / "study.db";
  auto store = Store::open(path);
  EXPECT_EQ(test_db(store).query_int("PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(test_db(store).query_int("PRAGMA user_version"), schema_version());
  EXPECT_EQ(test_db(store).query_int("PRAGMA foreign_keys"), 1);
  auto jm = test_db(store).prepare("PRAGMA journal_mode");
  ASSERT_TRUE(jm.step());
  EXPECT_EQ(jm.get_text(0), "wal");
  // No temporary file left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.path().string().find(".creating-") != std::string::npos) ++files;
  EXPECT_EQ(files, 0);
}

TEST_F(StoreTest, RunsRoundTripAndConfigRestartDeletesPartialRuns) {
  const auto path = dir_ / "study.db";
  int64_t cfg = 0;
  {
    auto store = Store::open(path);
    const int64_t session = store.add_session(
        {.started_at = utc_now(), .command = "test", .eco_version = "0", .eco_git_commit = "x"});
    const int64_t model = store.upsert_model({"synthetic:tiny", "tiny", 7, "{}", "{}", 100});
    EXPECT_EQ(store.upsert_model({"synthetic:tiny", "tiny", 7, "{}", "{}", 100}), model);
    const int64_t format = store.upsert_format({"fp16", "{}"});
    const ConfigKey key{model, format, 2, 8, 4, "cpu"};
    cfg = store.create_config(key, "{}");
    EXPECT_THROW(store.create_config(key, "{}"), Error);  // unique configuration key
    store.start_config(cfg, session, "cpu engine", "{\"runs\":2}", "");
    store.insert_run(sample_run(cfg, 0));
    store.insert_run(sample_run(cfg, 1));
    EXPECT_THROW(store.insert_run(sample_run(cfg, 1)), Error);  // duplicate index refused
    const auto found = store.find_config(key);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->status, ConfigStatus::Running);
  }
  auto store = Store::open(path);  // reopen: nothing lost
  auto runs = store.runs(cfg);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].index, 1);
  EXPECT_EQ(runs[1].k, 3);
  EXPECT_EQ(runs[1].net_energy_j, 40.0 / 3.0);
  EXPECT_TRUE(std::isnan(runs[1].host_energy_j));
  ASSERT_EQ(runs[1].phases.size(), 1u);
  EXPECT_EQ(runs[1].phases[0].counter_updates, 12);
  EXPECT_EQ(test_db(store).query_int("SELECT count(*) FROM power_timeline"), 4);
  // A redo of the configuration removes the partial attempt in one transaction.
  store.start_config(cfg, 1, "cpu engine", "{}", "no sensor");
  EXPECT_TRUE(store.runs(cfg).empty());
  EXPECT_EQ(test_db(store).query_int("SELECT count(*) FROM phases"), 0);
  EXPECT_EQ(test_db(store).query_int("SELECT count(*) FROM power_timeline"), 0);
  store.finish_config(cfg, GateOutcome::Passed, "{}", 1, {{"decode_tok_s", 0, 2, 15, 0, 0, 15, 15}});
  EXPECT_EQ(store.configs()[0].gate, GateOutcome::Passed);
  EXPECT_EQ(store.stats(cfg).size(), 1u);
  store.fail_config(cfg, "load", "out of memory");
  EXPECT_EQ(store.configs()[0].status, ConfigStatus::Failed);
  EXPECT_THAT(store.configs()[0].error, ::testing::HasSubstr("out of memory"));
}

TEST_F(StoreTest, ForeignFilesAreRefusedAndUntouched) {
  const auto text = dir_ / "notes.txt";
  { std::ofstream(text) << "these are my notes, not a database\n"; }
  const std::string before = slurp(text);
  try {
    Store::open(text);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not an SQLite file"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("notes.txt"));
  }
  EXPECT_EQ(slurp(text), before);

  // A valid SQLite database from some other program.
  const auto other = dir_ / "other.db";
  {
    Database db(other.string(), Database::Mode::Create);
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  }
  const std::string other_before = slurp(other);
  try {
    Store::open(other);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not an ecocompute study"));
  }
  EXPECT_EQ(slurp(other), other_before);
  EXPECT_FALSE(fs::exists(other.string() + "-wal"));
}

TEST_F(StoreTest, CorruptStudyIsRefusedAndUntouched) {
  const auto path = dir_ / "study.db";
  {
    auto store = Store::open(path);
    const int64_t m = store.upsert_model({"synthetic:tiny", "tiny", 1, "{}", "{}", 1});
    const int64_t f = store.upsert_format({"fp16", "{}"});
    const int64_t cfg = store.create_config({m, f, 1, 4, 4, "cpu"}, "{}");
    for (int i = 0; i < 40; ++i) store.insert_run(sample_run(cfg, i));
    test_db(store).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::string bytes = slurp(path);
  ASSERT_GT(bytes.size(), 4096u * 4);
  // Keep the header (our application id), scribble over the b-tree pages.
  for (size_t i = 4096; i < bytes.size(); i += 7) bytes[i] = char(0xA5);
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
  try {
    Store::open(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("corrupt"));
  }
  EXPECT_EQ(slurp(path), bytes);
}

TEST_F(StoreTest, UnwritableOrMissingDirectoryIsAClearError) {
  EXPECT_THROW(
      {
        try {
          Store::open(dir_ / "no-such-dir" / "study.db");
        } catch (const Error& e) {
          EXPECT_THAT(e.what(), ::testing::HasSubstr("does not exist"));
          throw;
        }
      },
      Error);
  EXPECT_THROW(Store::open(dir_), Error);  // a directory, not a file
  if (::geteuid() != 0) {                  // root can write anywhere
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(Store::open(dir_ / "study.db"), Error);
    fs::permissions(dir_, fs::perms::owner_all);
  }
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  const auto path = dir_ / "study.db";
  {
    auto store = Store::open(path);
    test_db(store).exec(fmt::format("PRAGMA user_version = {}", schema_version() + 1));
  }
  EXPECT_THROW(Store::open(path), Error);
}

}  // namespace
}  // namespace eco::store
