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
  // A model directory (or tokenizer.json) whose tokenizer the synthetic model gets; empty: a
  // byte-level tokenizer over the model's vocabulary (write_byte_level_tokenizer).
  std::filesystem::path tokenizer_from;
};

std::vector<std::string> synth_shape_names();
// The config of a named shape (published values); throws eco::Error for unknown names.
ModelConfig synth_shape(const std::string& name);
// Writes the directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
// synthetic.json); returns the written config. Overwrites files it owns, nothing else.
ModelConfig write_synthetic_model(const SynthOptions& opts, const std::filesystem::path& out_dir);
// Parses a storage dtype name for --dtype: f16, bf16 or f32 (float16, bfloat16, float32 too).
DType parse_synth_dtype(std::string_view name);
// Parses "K:SCALE" (e.g. "16:20") for --outliers.
void parse_outliers(const std::string& spec, SynthOptions& opts);

// ---- What the writer puts in each tensor (exposed so tests can check the files) -------------

// Standard deviation of the random weights. Values are uniform on [-a, a], a = std * sqrt(3):
// the same variance as N(0, 0.02^2), cheaper to draw, and bounded (no rare huge values that
// would plant outliers we did not ask for).
inline constexpr float kSynthWeightStd = 0.02f;

struct SynthTensor {
  enum class Kind { Random, Ones, LayerNorm };  // LayerNorm: ones, SCALE at the outlier dims
  std::string name;
  std::vector<int64_t> shape;
  Kind kind = Kind::Random;
};
// Tensors of the Hugging Face layout of `config`, in file order (Phi-3: fused qkv/gate_up).
std::vector<SynthTensor> synth_tensors(const ModelConfig& config);
// The value (before rounding to the storage dtype) of element i of random tensor number
// `tensor_index` in synth_tensors order: a counter-based hash of (seed, tensor, i), so the
// output does not depend on the thread count.
float synth_random_value(uint64_t seed, uint64_t tensor_index, uint64_t i);
// The K hidden dimensions given outlier weights, ascending, chosen from the seed.
std::vector<int> synth_outlier_dims(uint64_t seed, int hidden_size, int k);

}  // namespace eco::model
