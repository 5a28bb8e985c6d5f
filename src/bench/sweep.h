#pragma once
// A sweep: models x formats x batch sizes x prompt lengths x generation lengths, each
// configuration measured with the protocol and stored as it completes. run_sweep() is what
// `ecocompute bench` and `ecocompute run` call.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/progress.h"
#include "bench/prompt.h"
#include "bench/protocol.h"
#include "quant/format.h"
#include "store/store.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

struct SweepSpec {
  std::vector<std::string> models;   // model directories or "synthetic:SHAPE[?...]"
  std::vector<std::string> formats;  // format names (quant::parse_format)
  std::vector<int> batches;
  std::vector<int> prompt_lens;  // seeded random prompts of these lengths (without prompt_text)
  std::vector<int> gen_lens;     // >= 2: the first token comes from prefill, the rest from decode
  // A text prompt (--prompt / --text): every sequence's prompt is the text's tokens under each
  // model's tokenizer, and the prompt length is their count (prompt_lens is not used). The
  // configuration's protocol JSON records it under "prompt".
  std::optional<TextPrompt> prompt_text;
  // LLM.int8() settings: a threshold >= 0 replaces the default 6 of "int8" (0 makes it
  // int8-pure); the implementation applies to int8 and int8-pure. Recorded in the format's
  // parameters.
  float int8_threshold = -1.0f;
  std::optional<quant::Int8Impl> int8_impl;
  std::string device = "auto";
  ProtocolOptions protocol;
  bool resume = false;  // skip completed configurations, redo half-done ones
  std::string command;  // the command line, for provenance

  void validate() const;
  int configuration_count() const;
  // A format name of `formats` with the int8 settings above applied.
  quant::FormatSpec format_spec(const std::string& name) const;
};

// Reads a sweep file, TOML (name.toml) or JSON (name.json), format in docs/METHODOLOGY.md:
// keys models, formats, batches,
// prompt_lens, gen_lens, device, protocol {...}, and optionally prompt (text), text (a file
// whose contents are the prompt), int8_threshold, int8_impl. Unknown keys are errors.
SweepSpec load_sweep_file(const std::string& path);

// A format's stored parameters (formats.params_json): with its name, its identity in a study.
std::string format_params(const quant::FormatSpec& f);

// "fused" or "reference-bnb"; `source` names the option or file in the error.
quant::Int8Impl parse_int8_impl(const std::string& name, const std::string& source);
SweepSpec parse_sweep_json(const std::string& text, const std::string& source);

struct SweepResult {
  int configurations = 0;
  int skipped = 0;  // already complete (resume)
  int done = 0;
  int failed = 0;
  int gates_passed = 0, gates_passed_after_rerun = 0, gates_failed = 0;
  std::string energy_note;  // why energy was not measured; empty when it was
};

// Runs the sweep into `store`. `meter` may be supplied (tests, embedders); otherwise one is
// built from the protocol options. Without --resume, a configuration already in the store is
// an error (the user chooses: --resume or a new --db). Failures of one configuration (out of
// memory, kernel errors, unsupported format) are recorded and the sweep continues.
SweepResult run_sweep(const SweepSpec& spec, store::Store& store, ProgressSink& progress,
                      meter::Meter* meter = nullptr);

}  // namespace eco::bench
