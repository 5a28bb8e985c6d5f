#pragma once
// Synthetic models: a valid Hugging Face directory (config.json + model.safetensors) with
// seeded random weights for a named published shape, written in seconds without a GPU.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.h"

namespace eco::model {

struct SynthOptions {
  std::string shape = "tiny";  // see synth_shape_names()
  uint64_t seed = 0;
  int outlier_dims = 0;        // K hidden dimensions with planted outlier activations
  float outlier_scale = 1.0f;  // their RMSNorm weights are SCALE instead of 1
  DType dtype = DType::F16;    // storage dtype of the weights
};

std::vector<std::string> synth_shape_names();
// The config of a named shape (published values); throws eco::Error for unknown names.
ModelConfig synth_shape(const std::string& name);
// Writes the directory; returns the written config. Overwrites files it owns, nothing else.
ModelConfig write_synthetic_model(const SynthOptions& opts, const std::filesystem::path& out_dir);
// Parses "K:SCALE" (e.g. "16:20") for --outliers.
void parse_outliers(const std::string& spec, SynthOptions& opts);

}  // namespace eco::model
