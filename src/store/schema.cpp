#include "store/schema.h"

namespace eco::store {

namespace {

// Version 1. Energies are joules, powers watts, durations seconds, temperatures degrees C,
// clocks MHz. NULL means "not measured" (see configurations.energy_note for why).
constexpr std::string_view kV1 = R"sql(
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,
  command TEXT NOT NULL,
  hostname TEXT, os TEXT, cpu TEXT,
  gpu_name TEXT, gpu_uuid TEXT, gpu_driver TEXT, gpu_power_limit_w REAL,
  cuda_version TEXT, cublas_version TEXT,
  eco_version TEXT NOT NULL, eco_git_commit TEXT NOT NULL,
  meter TEXT
);
CREATE TABLE models (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  synthetic_shape TEXT,
  synthetic_seed INTEGER,
  config_json TEXT NOT NULL,
  weights_sha256_json TEXT NOT NULL,
  parameter_count INTEGER,
  UNIQUE (source, config_json, weights_sha256_json)
);
CREATE TABLE formats (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  params_json TEXT NOT NULL,
  UNIQUE (name, params_json)
);
CREATE TABLE configurations (
  id INTEGER PRIMARY KEY,
  model_id INTEGER NOT NULL REFERENCES models(id),
  format_id INTEGER NOT NULL REFERENCES formats(id),
  batch INTEGER NOT NULL,
  prompt_len INTEGER NOT NULL,
  gen_len INTEGER NOT NULL,
  device TEXT NOT NULL,
  session_id INTEGER REFERENCES sessions(id),
  engine TEXT,
  protocol_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
  gate TEXT CHECK (gate IN ('passed', 'passed-after-rerun', 'failed', 'not-evaluated')),
  gate_json TEXT,
  rounds INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  energy_note TEXT,
  started_at TEXT,
  finished_at TEXT,
  UNIQUE (model_id, format_id, batch, prompt_len, gen_len, device)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  config_id INTEGER NOT NULL REFERENCES configurations(id) ON DELETE CASCADE,
  round INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  is_warmup INTEGER NOT NULL,
  is_rerun_round INTEGER NOT NULL,
  k INTEGER NOT NULL,
  batch INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  generated_tokens INTEGER NOT NULL,
  decode_tokens INTEGER NOT NULL,
  seconds REAL NOT NULL,
  prefill_seconds REAL NOT NULL,
  decode_seconds REAL NOT NULL,
  prefill_tok_s REAL,
  decode_tok_s REAL,
  mean_power_w REAL,
  peak_power_w REAL,
  idle_power_w REAL,
  gross_energy_j REAL,
  net_energy_j REAL,
  j_per_token REAL,
  j_per_1k_tokens REAL,
  j_per_request REAL,
  prefill_j_per_token REAL,
  decode_j_per_token REAL,
  host_energy_j REAL,
  temp_start_c REAL,
  temp_end_c REAL,
  sm_clock_mhz REAL,
  mem_clock_mhz REAL,
  counter_vs_timeline REAL,
  flags TEXT NOT NULL DEFAULT '',
  UNIQUE (config_id, round, is_warmup, idx)
);
CREATE TABLE phases (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL CHECK (name IN ('prefill', 'decode', 'total')),
  seconds REAL NOT NULL,
  tokens INTEGER NOT NULL,
  gross_energy_j REAL,
  net_energy_j REAL,
  timeline_energy_j REAL,
  idle_power_w REAL,
  mean_power_w REAL,
  peak_power_w REAL,
  j_per_token REAL,
  counter_updates INTEGER,
  flags TEXT NOT NULL DEFAULT '',
  UNIQUE (run_id, name)
);
CREATE TABLE power_timeline (
  id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  config_id INTEGER REFERENCES configurations(id) ON DELETE CASCADE,
  t REAL NOT NULL,
  device INTEGER NOT NULL,
  watts REAL,
  temp_c REAL,
  sm_clock_mhz REAL,
  mem_clock_mhz REAL
);
CREATE INDEX power_timeline_run ON power_timeline(run_id);
CREATE TABLE config_stats (
  config_id INTEGER NOT NULL REFERENCES configurations(id) ON DELETE CASCADE,
  metric TEXT NOT NULL,
  round INTEGER NOT NULL,
  n INTEGER NOT NULL,
  mean REAL, sd REAL, cv REAL, ci_low REAL, ci_high REAL,
  PRIMARY KEY (config_id, metric)
);
CREATE TABLE protocol_events (
  id INTEGER PRIMARY KEY,
  session_id INTEGER REFERENCES sessions(id),
  config_id INTEGER REFERENCES configurations(id) ON DELETE CASCADE,
  step TEXT NOT NULL,
  at TEXT NOT NULL,
  seconds REAL,
  outcome TEXT NOT NULL,
  details_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE failures (
  id INTEGER PRIMARY KEY,
  config_id INTEGER REFERENCES configurations(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  stage TEXT NOT NULL,
  error TEXT NOT NULL
);
)sql";

// Quality scores of `ecocompute quality` (perplexity and KL divergence against a base format
// over a text), one row per scored format and run; models and formats are the rows bench runs
// use. NLL and KL divergence in nats per token; same_top1 a fraction; *_err standard errors.
constexpr std::string_view kQualityScores = R"sql(
CREATE TABLE quality_scores (
  id INTEGER PRIMARY KEY,
  session_id INTEGER REFERENCES sessions(id),
  model_id INTEGER NOT NULL REFERENCES models(id),
  format_id INTEGER NOT NULL REFERENCES formats(id),
  base_format_id INTEGER NOT NULL REFERENCES formats(id),
  device TEXT NOT NULL,
  engine TEXT,
  text_source TEXT NOT NULL,
  tokens_sha256 TEXT NOT NULL,
  text_tokens INTEGER NOT NULL,
  ctx INTEGER NOT NULL,
  chunks INTEGER NOT NULL,
  tokens_scored INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  ppl REAL, ppl_err REAL, nll REAL, nll_err REAL, ln_ppl_ratio REAL, ln_ppl_ratio_err REAL,
  kld REAL, kld_err REAL,
  kld_max REAL, kld_p99_9 REAL, kld_p99 REAL, kld_p95 REAL, kld_p90 REAL, kld_median REAL,
  kld_p10 REAL, kld_p5 REAL, kld_p1 REAL, kld_min REAL,
  same_top1 REAL, same_top1_err REAL, delta_p REAL, delta_p_err REAL, delta_p_rms REAL,
  delta_p_max REAL, delta_p_p99_9 REAL, delta_p_p99 REAL, delta_p_p95 REAL, delta_p_p90 REAL,
  delta_p_median REAL, delta_p_p10 REAL, delta_p_p5 REAL, delta_p_p1 REAL, delta_p_min REAL,
  seconds REAL
);
CREATE INDEX quality_scores_config ON quality_scores(model_id, format_id);
)sql";

// Published results brought in by `ecocompute import`: the CSV files exactly as read, so that
// the printed digits (and the rounding checks that depend on them) survive; analysis parses
// them and shows them as their own source, never mixed with measured runs.
constexpr std::string_view kPublishedImports = R"sql(
CREATE TABLE published_imports (
  id INTEGER PRIMARY KEY,
  imported_at TEXT NOT NULL,
  command TEXT NOT NULL,
  eco_version TEXT NOT NULL,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  csv_text TEXT NOT NULL,
  claims_file TEXT NOT NULL DEFAULT '',
  claims_sha256 TEXT NOT NULL DEFAULT '',
  claims_text TEXT NOT NULL DEFAULT ''
);
)sql";

}  // namespace

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> list{kV1, kQualityScores, kPublishedImports};
  return list;
}

}  // namespace eco::store
