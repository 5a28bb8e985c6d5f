#pragma once
// What a sweep measures: models x formats x batch sizes x prompt lengths x generation lengths,
// the protocol, and how to treat configurations a study already holds. Read from flags or a
// sweep file (TOML or JSON, docs/METHODOLOGY.md).
#include <optional>
#include <string>
#include <vector>

#include "bench/prompt.h"
#include "bench/protocol.h"
#include "quant/format.h"

namespace eco::bench {

struct SweepSpec {
  std::vector<std::string> models;  // model directories or "synthetic:SHAPE[?...]"
  // Format names (quant::parse_format); int8 may carry its own settings, as in
  // "int8?threshold=2&impl=reference-bnb", which win over int8_threshold and int8_impl below.
  std::vector<std::string> formats;
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
  // --resume: configurations already done are kept; half-done ones are redone; failed ones are
  // measured again unless retry_failed is false (--no-retry-failed).
  bool resume = false;
  bool retry_failed = true;
  std::string command;  // the command line, for provenance

  // Drops repeated values (batch 1,1; a model given twice, also as "dir" and "dir/"; the same
  // format name twice), keeping the first occurrence's order.
  void normalize();
  void validate() const;
  int configuration_count() const;
  // A format name of `formats` with the int8 settings above applied.
  quant::FormatSpec format_spec(const std::string& name) const;
};

// The format's parameters as stored with it (threshold and implementation of LLM.int8(), NF4
// block sizes).
std::string format_params(const quant::FormatSpec& f);

// Reads a sweep file, TOML (name.toml) or JSON (name.json), format in docs/METHODOLOGY.md:
// keys models, formats, batches, prompt_lens, gen_lens, device, protocol {...}, and optionally
// prompt (text), text (a file whose contents are the prompt), int8_threshold, int8_impl.
// Unknown keys, wrong types and integers out of range are errors naming the file and key.
SweepSpec load_sweep_file(const std::string& path);
SweepSpec parse_sweep_json(const std::string& text, const std::string& source);

// "fused" or "reference-bnb"; `source` names the option or file in the error.
quant::Int8Impl parse_int8_impl(const std::string& name, const std::string& source);

}  // namespace eco::bench
