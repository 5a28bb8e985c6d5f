#pragma once
// `ecocompute study run`: the parts of a study measured into one database on the device present,
// resumable. Each model is swept once per call (the union of the parts' configurations of that
// model, so it is loaded once and measures its idle baseline once), then its formats are scored
// for quality; finished configurations and quality scores are kept, failed ones retried. A time
// budget stops the call cleanly before a step expected to end past it.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/eta.h"
#include "bench/progress.h"
#include "bench/sweep.h"
#include "store/store.h"
#include "study/study_file.h"

namespace eco::study {

struct RunOptions {
  double budget_s = 0;            // 0: no budget
  bool evict_synthetic = false;   // delete a synthetic model's files once the call is done with it
  std::string command;            // for provenance
  std::function<double()> clock;  // default: steady clock seconds
  bench::SweepHooks hooks;        // load_model / make_engine seams for tests
};

struct PartStatus {
  std::string name, title;
  int configurations = 0, done = 0, failed = 0, remaining = 0;  // remaining: never finished
};

struct StudyStatus {
  std::vector<PartStatus> parts;
  int configurations = 0, done = 0, failed = 0, remaining = 0;  // distinct configurations
  int quality_formats = 0, quality_done = 0;                    // (model, format) pairs scored
  bool published = false;                                       // the published table is in
  // What a later call has to do: each configuration not done (failed ones are retried), and
  // the (model, format) of each quality score missing.
  std::vector<bench::ConfigKey> todo;
  std::vector<std::pair<std::string, std::string>> quality_todo;
};

struct RunOutcome {
  StudyStatus status;
  int measured_now = 0, failed_now = 0, scored_now = 0;
  bool stopped_by_budget = false;
  std::optional<double> remaining_s;  // expected time of what remains, at this call's pace
  double seconds = 0;
  int energy_faults = 0;
  std::string energy_note;                  // why energy was not measured; empty when it was
  std::vector<std::string> quality_errors;  // a model whose scoring failed, with the reason
};

// The device configurations are stored under ("cpu" or "cuda"), `device` as in a sweep file.
std::string resolved_device(const std::string& device);

StudyStatus study_status(const StudyFile& study, store::Store& st);

RunOutcome run_study(const StudyFile& study, store::Store& st, bench::ProgressSink& progress,
                     const RunOptions& options);

}  // namespace eco::study
