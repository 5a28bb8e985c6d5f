#pragma once
// Which configurations a sweep measures, in which order, and what becomes of those the study
// already holds. plan_sweep() is pure (no store, no meter) so its rules are unit-tested.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace eco::bench {

enum class PlanAction {
  Measure,  // new to the study
  Redo,     // started before and not finished (interrupted): its partial runs are replaced
  Retry,    // failed before: measured again (the reason may be gone)
  Skip,     // done (or failed, with retry_failed off): kept as it is
};
std::string_view to_string(PlanAction a);

// What the study holds for a configuration.
struct ExistingConfig {
  int64_t id = 0;
  store::ConfigStatus status = store::ConfigStatus::Pending;
  bool same_prompt = true;    // measured with the prompt asked for now
  std::string stored_prompt;  // what it was measured with, for the error
};

struct PlannedConfig {
  size_t model = 0;  // index into the sweep's models
  std::string format;
  int batch = 1, prompt_len = 0, gen_len = 0;
  std::string label;  // "MODEL FORMAT batch B prompt P gen G"
  std::optional<ExistingConfig> existing;
  PlanAction action = PlanAction::Measure;
  int64_t config_id = 0;  // the study's id, once stored
};

struct PlanRules {
  bool resume = false;
  bool retry_failed = true;
  std::string study;   // the database path, for errors
  std::string device;  // for errors
};

// Every configuration of models x formats x batches x prompt lengths x generation lengths in
// measurement order: grouped by model, then format (one model load and one quantization per
// group), then ascending batch and lengths. `prompt_lens[m]` are model m's prompt lengths.
std::vector<PlannedConfig> enumerate_configurations(
    const std::vector<std::string>& models, const std::vector<std::string>& formats,
    const std::vector<int>& batches, const std::vector<std::vector<int>>& prompt_lens,
    const std::vector<int>& gen_lens);

// Sets each configuration's action from what the study holds. Without resume, any existing
// configuration is an error (the user chooses --resume or a new --db); with resume, one
// measured with another prompt is an error. Throws eco::Error naming the configuration.
void plan_sweep(std::vector<PlannedConfig>& configs, const PlanRules& rules);

}  // namespace eco::bench
