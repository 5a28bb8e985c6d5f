#pragma once
// Study databases with known contents for the dashboard's tests: the browser tests (through
// tests/e2e/make_fixture.cpp) and the report unit tests. Written through the store's own API,
// so they are what `ecocompute bench` would write; values follow a fixed formula with a seeded
// jitter, so every count and order a test checks is known in advance.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../store_access.h"
#include "store/store.h"

namespace eco::fixture {

struct Spec {
  int configs_per_model = 0;             // 0: the dashboard fixture (formats x batches below)
  std::string model = "synthetic:tiny";  // the model of those configurations
  int measured_runs = 5;
  int timeline_samples = 40;
  bool xss_model = true;      // a model whose name is markup
  bool failed_config = true;  // one configuration that failed
  bool extra_tables = true;   // quality scores and published figures beside the schema
};

inline const char* kXssModel =
    "models/<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";

struct Lcg {
  uint64_t s;
  double next() {  // uniform in [0, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double(s >> 11) / double(uint64_t(1) << 53);
  }
};

inline double base_j_per_token(const std::string& format) {
  if (format == "int8") return 0.9;
  if (format == "nf4") return 0.55;
  return 0.5;  // fp16
}

inline void add_config(store::Store& st, int64_t session, int64_t model, int64_t format_id,
                       const std::string& format, int batch, const Spec& spec, Lcg& rng) {
  const int64_t cfg = st.create_config({model, format_id, batch, 16, 32, "cuda:0"}, "{\"runs\":5}");
  st.start_config(cfg, session, "cuda fp16 cuBLAS", R"({"runs":5,"warmup":1,"idle_seconds":2})",
                  "");
  const double per_token = base_j_per_token(format) * std::pow(double(batch), -0.8);
  const double watts = 300 + 40 * std::log2(double(batch)) + (format == "int8" ? 30 : 0);
  for (int i = 0; i < spec.measured_runs + 1; ++i) {
    store::RunRecord r;
    r.config_id = cfg;
    r.warmup = i == 0;
    r.index = r.warmup ? 0 : i - 1;
    r.batch = batch;
    r.prompt_tokens = 16 * batch;
    r.generated_tokens = 32 * batch;
    r.decode_tokens = 31 * batch;
    const double jpt = per_token * (1 + 0.04 * (rng.next() - 0.5));
    const double gross = jpt * double(r.generated_tokens) * 1.2;
    r.gross_energy_j = gross;
    r.net_energy_j = jpt * double(r.generated_tokens);
    r.j_per_token = jpt;
    r.j_per_1k_tokens = 1000 * jpt;
    r.j_per_request = r.net_energy_j / batch;
    r.seconds = gross / watts;
    r.prefill_seconds = 0.1 * r.seconds;
    r.decode_seconds = 0.9 * r.seconds;
    r.decode_tok_s = double(r.decode_tokens) / r.decode_seconds;
    r.prefill_tok_s = double(r.prompt_tokens) / r.prefill_seconds;
    r.mean_power_w = watts;
    r.peak_power_w = watts * 1.1;
    r.idle_power_w = 75;
    r.prefill_j_per_token = 2 * jpt;
    r.decode_j_per_token = 0.95 * jpt;
    r.temp_start_c = 40;
    r.temp_end_c = 44;
    r.phases = {{"prefill", r.prefill_seconds, r.prompt_tokens, gross * 0.1, r.net_energy_j * 0.1},
                {"decode", r.decode_seconds, r.decode_tokens, gross * 0.9, r.net_energy_j * 0.9},
                {"total", r.seconds, r.generated_tokens, gross, r.net_energy_j}};
    if (!r.warmup)
      for (int k = 0; k < spec.timeline_samples; ++k) {
        const double t = r.seconds * k / std::max(1, spec.timeline_samples - 1);
        r.timeline.push_back({t, 0, t < r.prefill_seconds ? watts * 1.05 : watts, 50, 1980, 2619});
      }
    st.insert_run(r);
  }
  st.finish_config(cfg, store::GateOutcome::Passed, R"({"rounds":[{"cv_decode_tok_s":0.004}]})", 1,
                   {});
}

// Quality scores and an imported published table as `ecocompute quality` and `import` store
// them (the tables are created here when this build's schema does not have them yet).
inline void add_extra_tables(store::Store& st) {
  auto& db = store::test_db(st);
  db.exec(
      "CREATE TABLE IF NOT EXISTS quality_scores (id INTEGER PRIMARY KEY, session_id INTEGER, "
      "model_id INTEGER NOT NULL, format_id INTEGER NOT NULL, base_format_id INTEGER NOT NULL, "
      "device TEXT NOT NULL, engine TEXT, text_source TEXT NOT NULL, tokens_sha256 TEXT NOT NULL, "
      "text_tokens INTEGER NOT NULL, ctx INTEGER NOT NULL, chunks INTEGER NOT NULL, "
      "tokens_scored INTEGER NOT NULL, created_at TEXT NOT NULL, ppl REAL, ppl_err REAL, "
      "kld REAL, kld_err REAL, same_top1 REAL, same_top1_err REAL)");
  // Fixture values, not measurements: KLD against fp16 is 0 for fp16, nf4 above int8.
  db.exec(
      "INSERT INTO quality_scores (model_id, format_id, base_format_id, device, text_source, "
      "tokens_sha256, text_tokens, ctx, chunks, tokens_scored, created_at, ppl, kld, same_top1) "
      "SELECT m.id, f.id, (SELECT id FROM formats WHERE name = 'fp16'), 'cuda', 'fixture text', "
      "'00', 4096, 512, 8, 4088, '2026-12-02T10:00:00Z', CASE f.name WHEN 'fp16' THEN 11.16 WHEN "
      "'int8' THEN 11.20 ELSE 11.9 END, CASE f.name WHEN 'fp16' THEN 0 WHEN 'int8' THEN 0.004 "
      "ELSE 0.03 END, CASE f.name WHEN 'fp16' THEN 1 WHEN 'int8' THEN 0.98 ELSE 0.93 END "
      "FROM models m, formats f WHERE f.name IN ('fp16', 'int8', 'nf4') AND "
      "(m.source = 'synthetic:tiny' OR f.name = 'fp16')");
  db.exec(
      "CREATE TABLE IF NOT EXISTS published_imports (id INTEGER PRIMARY KEY, imported_at TEXT NOT "
      "NULL, command TEXT NOT NULL, eco_version TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT "
      "NULL, csv_text TEXT NOT NULL, claims_file TEXT NOT NULL DEFAULT '', claims_sha256 TEXT NOT "
      "NULL DEFAULT '', claims_text TEXT NOT NULL DEFAULT '')");
  auto ins = db.prepare(
      "INSERT INTO published_imports (imported_at, command, eco_version, file, sha256, csv_text, "
      "claims_file, claims_text) VALUES ('2026-12-02T10:00:00Z', 'ecocompute import', '0.1.0', "
      "'fixture_published.csv', '00', ?, 'fixture_claims.csv', ?)");
  // The int8 row's energy disagrees with its own power / throughput (9000 against 4000), and
  // the claim disagrees with the table (+350 %, not +100 %): both must be flagged.
  ins.bind(1,
           "# fixture: published-style rows\n"
           "gpu,model,params_b,format,llm_int8_threshold,batch_size,new_tokens,n_runs,"
           "throughput_tok_s,power_w,energy_j_per_1k_tok,idle_subtracted,source,notes\n"
           "H200,tiny,0.1,fp16,,1,32,10,100,200,2000,no,fixture,\n"
           "H200,tiny,0.1,int8,6.0,1,32,10,50,200,9000,no,fixture,\"energy disagrees, on "
           "purpose\"\n"
           "RTX 5090,Other-7B,7,nf4,,4,256,10,80,300,3750,no,fixture,\n");
  ins.bind(2,
           "id,statement,source,metric,where,numerator,denominator,aggregate,unit,claimed_low,"
           "claimed_high\n"
           "fx-int8,\"int8 costs +100 % energy\",fixture,energy,gpu=H200,format=int8;threshold=6.0,"
           "format=fp16,each,%,100,100\n");
  ins.run();
}

// Writes a fresh study at `path` (replacing a file there) and returns the number of
// configurations written.
inline int write_fixture(const std::filesystem::path& path, const Spec& spec = {}) {
  std::filesystem::remove(path);
  for (const char* s : {"-wal", "-shm"}) std::filesystem::remove(path.string() + s);
  auto st = store::Store::open(path);
  // A test fixture: no need for durable commits.
  store::test_db(st).exec("PRAGMA synchronous = OFF");
  store::test_db(st).exec("PRAGMA journal_mode = MEMORY");
  store::Session s;
  s.started_at = "2026-12-02T10:00:00.000Z";
  s.command = "ecocompute bench --fixture";
  s.hostname = "fixture-host";
  s.os = "Linux";
  s.cpu = "Fixture CPU";
  s.gpu_name = "NVIDIA H200";
  s.gpu_uuid = "GPU-fixture";
  s.gpu_driver = "570.00";
  s.gpu_power_limit_w = 700;
  s.cuda_version = "12.8";
  s.eco_version = "0.1.0";
  s.eco_git_commit = "fixture";
  s.meter = "nvml energy counter";
  const int64_t session = st.add_session(s);
  Lcg rng{42};
  int count = 0;
  const int64_t tiny =
      st.upsert_model({spec.model, "tiny", 7, "{\"hidden_size\":64}", "{}", 123456});
  const std::vector<std::string> formats{"fp16", "int8", "nf4"};
  std::vector<int64_t> fids;
  for (const auto& f : formats)
    fids.push_back(st.upsert_format({f, f == "int8" ? "{\"threshold\":6}" : "{}"}));
  if (spec.configs_per_model > 0) {
    for (int i = 0; i < spec.configs_per_model; ++i, ++count)
      add_config(st, session, tiny, fids[size_t(i) % 3], formats[size_t(i) % 3], 1 + i / 3, spec,
                 rng);
    if (spec.extra_tables) add_extra_tables(st);
    return count;
  }
  for (size_t f = 0; f < formats.size(); ++f)
    for (int batch : {1, 4, 16}) {
      add_config(st, session, tiny, fids[f], formats[f], batch, spec, rng);
      ++count;
    }
  if (spec.xss_model) {
    const int64_t m =
        st.upsert_model({kXssModel, "", std::nullopt, "{\"note\":\"</script><b>x</b>\"}",
                         "{\"model.safetensors\":\"ab12\"}", 7});
    add_config(st, session, m, fids[0], "fp16", 1, spec, rng);
    ++count;
  }
  if (spec.failed_config) {
    const int64_t pure = st.upsert_format({"int8-pure", "{\"threshold\":0}"});
    const int64_t cfg = st.create_config({tiny, pure, 1, 16, 32, "cuda:0"}, "{}");
    st.start_config(cfg, session, "cuda", "{}", "");
    st.fail_config(cfg, "load", "out of memory while quantizing (fixture)");
    ++count;
  }
  if (spec.extra_tables) add_extra_tables(st);
  return count;
}

}  // namespace eco::fixture
