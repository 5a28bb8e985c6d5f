// Read-only queries for analysis, and the import of published results (see query.h).
#include "store/query.h"

#include "common/error.h"
#include "store/store.h"

namespace eco::store {

std::vector<ConfigView> Store::config_views() {
  auto st = db_.prepare(
      "SELECT c.id, c.model_id, c.format_id, m.source, m.weights_sha256_json, "
      "coalesce(m.parameter_count, 0), f.name, f.params_json, c.batch, c.prompt_len, c.gen_len, "
      "c.device, coalesce(s.gpu_name, ''), c.status, coalesce(c.gate, ''), "
      "coalesce(c.engine, '') FROM configurations c JOIN models m ON m.id = c.model_id "
      "JOIN formats f ON f.id = c.format_id LEFT JOIN sessions s ON s.id = c.session_id "
      "ORDER BY c.id");
  std::vector<ConfigView> out;
  while (st.step()) {
    ConfigView v;
    v.id = st.get_int(0);
    v.model_id = st.get_int(1);
    v.format_id = st.get_int(2);
    v.model_source = st.get_text(3);
    v.model_weights = st.get_text(4);
    v.parameter_count = st.get_int(5);
    v.format_name = st.get_text(6);
    v.format_params = st.get_text(7);
    v.batch = int(st.get_int(8));
    v.prompt_len = int(st.get_int(9));
    v.gen_len = int(st.get_int(10));
    v.device = st.get_text(11);
    v.gpu_name = st.get_text(12);
    v.status = parse_config_status(st.get_text(13));
    v.gate = st.get_text(14);
    v.engine = st.get_text(15);
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<QualityView> Store::quality_views() {
  // Quality scores are optional: a study measured before they existed has no such table.
  if (db_.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                    "name = 'quality_scores'") == 0)
    return {};
  auto st = db_.prepare(
      "SELECT model_id, format_id, avg(kld), count(kld) FROM quality_scores "
      "WHERE kld IS NOT NULL GROUP BY model_id, format_id ORDER BY model_id, format_id");
  std::vector<QualityView> out;
  while (st.step())
    out.push_back({st.get_int(0), st.get_int(1), st.get_double(2), int(st.get_int(3))});
  return out;
}

int64_t Store::add_published(const PublishedImport& p) {
  Transaction tx(db_);
  auto st = db_.prepare(
      "INSERT INTO published_imports (imported_at, command, eco_version, file, sha256, csv_text, "
      "claims_file, claims_sha256, claims_text) VALUES (?,?,?,?,?,?,?,?,?)");
  st.bind(1, p.imported_at).bind(2, p.command).bind(3, p.eco_version).bind(4, p.file);
  st.bind(5, p.sha256).bind(6, p.csv_text).bind(7, p.claims_file).bind(8, p.claims_sha256);
  st.bind(9, p.claims_text);
  st.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::vector<PublishedImport> Store::published() {
  auto st = db_.prepare(
      "SELECT id, imported_at, command, eco_version, file, sha256, csv_text, claims_file, "
      "claims_sha256, claims_text FROM published_imports ORDER BY id");
  std::vector<PublishedImport> out;
  while (st.step()) {
    PublishedImport p;
    p.id = st.get_int(0);
    p.imported_at = st.get_text(1);
    p.command = st.get_text(2);
    p.eco_version = st.get_text(3);
    p.file = st.get_text(4);
    p.sha256 = st.get_text(5);
    p.csv_text = st.get_text(6);
    p.claims_file = st.get_text(7);
    p.claims_sha256 = st.get_text(8);
    p.claims_text = st.get_text(9);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace eco::store
