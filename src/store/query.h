#pragma once
// What analysis reads from a study, as plain structs: configurations with their identity
// resolved (model, format, GPU), quality scores where a study has them, and published results
// imported beside the measured runs (kept as their own source, never mixed with runs).
#include <cstdint>
#include <string>

#include "store/records.h"

namespace eco::store {

struct ConfigView {
  int64_t id = 0;
  int64_t model_id = 0, format_id = 0;
  std::string model_source;   // directory path or "synthetic:SHAPE"
  std::string model_weights;  // {"file": "sha256", ...}: the model's identity across studies
  int64_t parameter_count = 0;
  std::string format_name, format_params;  // params as stored (JSON)
  int batch = 1, prompt_len = 0, gen_len = 0;
  std::string device;    // as given to bench (cpu, cuda:0, ...)
  std::string gpu_name;  // of the session that measured it; empty when unknown
  ConfigStatus status = ConfigStatus::Pending;
  std::string gate;  // passed | passed-after-rerun | failed | not-evaluated | ""
  std::string engine;
};

// Mean KL divergence of a (model, format) against its base format over the scored texts.
struct QualityView {
  int64_t model_id = 0, format_id = 0;
  double kld = 0;  // nats per token
  int scores = 0;  // rows averaged
};

// One `ecocompute import`: the files exactly as read (so the published digits, and with them
// the rounding checks, survive), their SHA-256 and who imported them when.
struct PublishedImport {
  int64_t id = 0;
  std::string imported_at, command, eco_version;
  std::string file, sha256, csv_text;
  std::string claims_file, claims_sha256, claims_text;  // empty without --claims
};

}  // namespace eco::store
