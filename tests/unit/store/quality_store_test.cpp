// The quality_scores table: every value round-trips (NaN as NULL), rows are never replaced.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include <fmt/format.h>

#include "store/export.h"
#include "store/store.h"

namespace eco::store {
namespace {

namespace fs = std::filesystem;

TEST(QualityStore, ScoresRoundTripAndAreExported) {
  const fs::path path =
      fs::temp_directory_path() / fmt::format("eco_quality_store_{}.db", ::getpid());
  fs::remove(path);
  {
    auto st = Store::open(path);
    const int64_t model = st.upsert_model({"synthetic:tiny", "tiny", 0, "{}", "{}", 10});
    const int64_t fp16 = st.upsert_format({"fp16", "{}"});
    const int64_t nf4 = st.upsert_format({"nf4", R"({"block":64})"});
    QualityRecord q;
    q.model_id = model;
    q.format_id = nf4;
    q.base_format_id = fp16;
    q.device = "cpu";
    q.engine = "cpu reference engine";
    q.text_source = "--text t.txt";
    q.tokens_sha256 = std::string(64, 'a');
    q.text_tokens = 1000;
    q.ctx = 128;
    q.chunks = 7;
    q.tokens_scored = 7 * 63;
    q.ppl = 12.5, q.ppl_err = 0.25, q.nll = std::log(12.5), q.nll_err = 0.02;
    q.kld = 0.0125, q.kld_err = 0.001, q.kld_pct.max = 0.5, q.kld_pct.median = 0.01;
    q.same_top1 = 0.9375, q.delta_p = -0.001, q.delta_p_rms = 0.03;
    q.delta_p_pct.min = -0.4, q.delta_p_pct.p99_9 = 0.2;
    st.insert_quality(q);
    st.insert_quality(q);  // a second run of the same configuration is kept too
  }
  auto st = Store::open_read_only(path);
  const auto rows = st.quality_scores();
  ASSERT_EQ(rows.size(), 2u);
  const QualityRecord& r = rows[0];
  EXPECT_EQ(r.tokens_scored, 441);
  EXPECT_EQ(r.ctx, 128);
  EXPECT_EQ(r.text_source, "--text t.txt");
  EXPECT_DOUBLE_EQ(r.ppl, 12.5);
  EXPECT_DOUBLE_EQ(r.kld_pct.max, 0.5);
  EXPECT_DOUBLE_EQ(r.kld_pct.median, 0.01);
  EXPECT_DOUBLE_EQ(r.delta_p_pct.min, -0.4);
  EXPECT_DOUBLE_EQ(r.delta_p_pct.p99_9, 0.2);
  EXPECT_DOUBLE_EQ(r.same_top1, 0.9375);
  EXPECT_TRUE(std::isnan(r.ln_ppl_ratio)) << "not measured stays NULL";
  EXPECT_TRUE(std::isnan(r.kld_pct.p5));
  EXPECT_FALSE(r.session_id.has_value());
  EXPECT_FALSE(r.created_at.empty());
  const Table t = export_table(st, ExportTable::Quality);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.columns[3], "format");
  EXPECT_EQ(std::get<std::string>(t.rows[0][3]), "nf4");
  EXPECT_EQ(std::get<std::string>(t.rows[0][5]), "fp16");
  fs::remove(path);
}

}  // namespace
}  // namespace eco::store
