#pragma once
// A study: several parts, each a sweep (models x formats x batch sizes) sharing one protocol,
// prompt and generation lengths, device, quality scoring and published results to compare with.
// Read from a TOML (or JSON) file whose [sweep] table has the keys of a bench sweep file
// (docs/METHODOLOGY.md) that every part shares, and whose [[part]] tables list what each part
// measures (README.md, "The study").
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bench/sweep_spec.h"

namespace eco::study {

struct StudyPart {
  std::string name;   // short identifier (formats, threshold, batch, ...)
  std::string title;  // for people
  std::vector<std::string> models;
  std::vector<std::string> formats;  // canonical names (canonical_format)
  std::vector<int> batches;
};

struct QualityPlan {
  bool enabled = true;
  // Models scored with every format of the study without being metered (a trained model).
  std::vector<std::string> models;
  int ctx = 512;
  int chunks = 16;   // 0: every whole chunk of the text
  std::string text;  // a text file; empty: the bundled held-out text
  // Formats scored together (each pass holds their engines and fp16's at once, and recomputes
  // fp16's logits): 4 keeps a 7B model's passes within an 80 GB card.
  int formats_per_pass = 4;
};

struct StudyFile {
  std::string path;
  std::string name, title;
  // The shared sweep settings: prompt_lens, gen_lens, device, protocol, int8 settings. Its
  // models, formats and batches are empty; each part has its own.
  bench::SweepSpec sweep;
  std::vector<StudyPart> parts;
  QualityPlan quality;
  std::string published_csv, published_claims;  // empty: nothing to import

  // Every model of the study: the parts' in order of first appearance, then quality's own.
  std::vector<std::string> models() const;
  bool metered(const std::string& model) const;  // in some part
  // The formats a model is metered in (every part's formats when it is in none, for quality).
  std::vector<std::string> formats_of(const std::string& model) const;
  // Whether some part measures this configuration (format canonical).
  bool includes(const std::string& model, const std::string& format, int batch) const;
  // One sweep for the model: the union of the parts' formats and batch sizes, resumable;
  // `includes` picks the configurations of the cross product that a part asks for.
  bench::SweepSpec model_sweep(const std::string& model) const;
  // Each model's sweep as bench would check it (formats, batches, protocol, device).
  void validate() const;
};

// One spelling per format, so that parts naming the same format differently (int8-pure and
// int8?threshold=0) share its configurations: fp16, nf4, int8 (threshold 6, fused), int8-pure,
// int8?threshold=2, int8?impl=reference-bnb, ... `sweep` supplies int8_threshold/int8_impl.
std::string canonical_format(const std::string& name, const bench::SweepSpec& sweep);

// Reads and validates a study file (.toml or .json). Errors name the file and key.
StudyFile load_study_file(const std::string& path);
StudyFile parse_study_json(const nlohmann::json& j, const std::string& source);

// The same study scaled down for a CPU check: every model becomes a tiny synthetic shape (its
// query options kept, distinct models stay distinct), batch sizes above 4 are dropped, short
// prompts and generations, a fast protocol, the CPU engine, a short quality text.
void make_smoke(StudyFile& study);

}  // namespace eco::study
