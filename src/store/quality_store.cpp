// The quality_scores table (schema migration "quality scores" in schema.cpp).
#include <array>

#include <fmt/format.h>

#include "store/store.h"

namespace eco::store {

namespace {

constexpr std::array<const char*, 10> kPercentileNames{"max",    "p99_9", "p99", "p95", "p90",
                                                       "median", "p10",   "p5",  "p1",  "min"};

std::array<double*, 10> fields(QualityPercentiles& p) {
  return {&p.max, &p.p99_9, &p.p99, &p.p95, &p.p90, &p.median, &p.p10, &p.p5, &p.p1, &p.min};
}

// The value columns in one order for INSERT and SELECT.
std::vector<std::pair<std::string, double*>> value_columns(QualityRecord& r) {
  std::vector<std::pair<std::string, double*>> c{{"ppl", &r.ppl},
                                                 {"ppl_err", &r.ppl_err},
                                                 {"nll", &r.nll},
                                                 {"nll_err", &r.nll_err},
                                                 {"ln_ppl_ratio", &r.ln_ppl_ratio},
                                                 {"ln_ppl_ratio_err", &r.ln_ppl_ratio_err},
                                                 {"kld", &r.kld},
                                                 {"kld_err", &r.kld_err}};
  const auto kp = fields(r.kld_pct);
  for (size_t i = 0; i < kp.size(); ++i)
    c.emplace_back(fmt::format("kld_{}", kPercentileNames[i]), kp[i]);
  c.insert(c.end(), {{"same_top1", &r.same_top1},
                     {"same_top1_err", &r.same_top1_err},
                     {"delta_p", &r.delta_p},
                     {"delta_p_err", &r.delta_p_err},
                     {"delta_p_rms", &r.delta_p_rms}});
  const auto dp = fields(r.delta_p_pct);
  for (size_t i = 0; i < dp.size(); ++i)
    c.emplace_back(fmt::format("delta_p_{}", kPercentileNames[i]), dp[i]);
  c.emplace_back("seconds", &r.seconds);
  return c;
}

constexpr const char* kKeyColumns =
    "session_id, model_id, format_id, base_format_id, device, engine, text_source, "
    "tokens_sha256, text_tokens, ctx, chunks, tokens_scored, created_at";

}  // namespace

int64_t Store::insert_quality(const QualityRecord& rec) {
  QualityRecord r = rec;
  if (r.created_at.empty()) r.created_at = utc_now();
  const auto values = value_columns(r);
  std::string cols = kKeyColumns, marks = "?,?,?,?,?,?,?,?,?,?,?,?,?";
  for (const auto& [name, _] : values) cols += ", " + name, marks += ",?";
  auto st = db_.prepare(fmt::format("INSERT INTO quality_scores ({}) VALUES ({})", cols, marks));
  st.bind(1, r.session_id).bind(2, r.model_id).bind(3, r.format_id);
  st.bind(4, r.base_format_id).bind(5, r.device).bind(6, r.engine);
  st.bind(7, r.text_source).bind(8, r.tokens_sha256).bind(9, r.text_tokens);
  st.bind(10, r.ctx).bind(11, r.chunks).bind(12, r.tokens_scored).bind(13, r.created_at);
  int i = 13;
  for (const auto& [_, v] : values) st.bind(++i, *v);
  st.run();
  return db_.last_insert_id();
}

std::vector<QualityRecord> Store::quality_scores() {
  QualityRecord probe;
  std::string cols = std::string("id, ") + kKeyColumns;
  for (const auto& [name, _] : value_columns(probe)) cols += ", " + name;
  auto st = db_.prepare(fmt::format("SELECT {} FROM quality_scores ORDER BY id", cols));
  std::vector<QualityRecord> out;
  while (st.step()) {
    QualityRecord r;
    int i = 0;
    r.id = st.get_int(i++);
    if (!st.is_null(i)) r.session_id = st.get_int(i);
    ++i;
    r.model_id = st.get_int(i++);
    r.format_id = st.get_int(i++);
    r.base_format_id = st.get_int(i++);
    r.device = st.get_text(i++);
    r.engine = st.get_text(i++);
    r.text_source = st.get_text(i++);
    r.tokens_sha256 = st.get_text(i++);
    r.text_tokens = st.get_int(i++);
    r.ctx = int(st.get_int(i++));
    r.chunks = int(st.get_int(i++));
    r.tokens_scored = st.get_int(i++);
    r.created_at = st.get_text(i++);
    for (const auto& [_, v] : value_columns(r)) *v = st.get_double(i++);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace eco::store
