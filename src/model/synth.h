#pragma once
// Synthetic models: a valid Hugging Face directory (config.json + model.safetensors) with
// seeded random weights for a named published shape, written in seconds without a GPU.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.h"

namespace eco::model {

// How the weights are drawn (docs/FORMATS.md, "Synthetic outliers").
//   Scaled: each matrix kind has its own standard deviation, chosen so that no matmul input
//     reaches LLM.int8()'s threshold (6) by chance, and planted outliers reach every matmul
//     input kind as a few systematic columns (synth_plan.cpp derives the scales).
//   Legacy: every random tensor uniform with std 0.02; planted outliers are RMSNorm weights of
//     SCALE at K dimensions (so only q/k/v and gate/up inputs carry them systematically, and
//     down_proj's input exceeds 6 at random positions). The models measured before "scaled".
enum class SynthWeights { Scaled, Legacy };

struct SynthOptions {
  std::string shape = "tiny";  // see synth_shape_names()
  uint64_t seed = 0;
  int outlier_dims = 0;        // K hidden dimensions with planted outlier activations
  float outlier_scale = 1.0f;  // planted columns carry |x| ~ SCALE (legacy: RMSNorm weight)
  SynthWeights weights = SynthWeights::Scaled;
  DType dtype = DType::F16;  // storage dtype of the weights
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
// "scaled" or "legacy" (--weights); throws eco::Error naming both for anything else.
SynthWeights parse_synth_weights(std::string_view name);
std::string_view synth_weights_name(SynthWeights w);

// ---- What the writer puts in each tensor (exposed so tests can check the files) -------------

// Standard deviation of the random weights. Values are uniform on [-a, a], a = std * sqrt(3):
// the same variance as N(0, 0.02^2), cheaper to draw, and bounded (no rare huge values that
// would plant outliers we did not ask for).
inline constexpr float kSynthWeightStd = 0.02f;

struct SynthTensor {
  enum class Kind { Random, Ones, LayerNorm };  // LayerNorm: ones, a gain at the outlier dims
  // What the tensor is in the model: its weight scale and planted structure depend on it.
  // Qkv and GateUp are Phi-3's fused matrices (q|k|v and gate|up stacked by rows).
  enum class Role {
    Embed,
    LmHead,
    AttnNorm,
    MlpNorm,
    FinalNorm,
    Q,
    K,
    V,
    Qkv,
    O,
    Gate,
    Up,
    GateUp,
    Down,
    Bias,
    HeadNorm  // Qwen3's q_norm / k_norm
  };
  std::string name;
  std::vector<int64_t> shape;
  Kind kind = Kind::Random;
  Role role = Role::Bias;
  int layer = -1;  // decoder layer, -1 outside the layers
};
// Tensors of the Hugging Face layout of `config`, in file order (Phi-3: fused qkv/gate_up).
std::vector<SynthTensor> synth_tensors(const ModelConfig& config);
// The value (before rounding to the storage dtype) of element i of random tensor number
// `tensor_index` in synth_tensors order: a counter-based hash of (seed, tensor, i), so the
// output does not depend on the thread count.
float synth_random_value(uint64_t seed, uint64_t tensor_index, uint64_t i);
// The K hidden dimensions given outlier weights, ascending, chosen from the seed.
std::vector<int> synth_outlier_dims(uint64_t seed, int hidden_size, int k);

// ---- The weight plan (synth_plan.cpp): scales per matrix kind and planted outliers ----------

// The input columns of each matmul kind that carry planted outliers, ascending.
struct SynthOutlierColumns {
  std::vector<int> hidden;  // q/k/v and gate/up inputs: the planted hidden dimensions
  std::vector<int> attn;    // o_proj input (attention output); empty for legacy weights
  std::vector<int> mlp;     // down_proj input (silu(gate) * up); empty for legacy weights
};

struct SynthPlan {
  ModelConfig config;
  SynthWeights weights = SynthWeights::Scaled;
  uint64_t seed = 0;
  float scale = 1.0f;                // SCALE of --outliers
  std::vector<SynthTensor> tensors;  // synth_tensors(config)
  std::vector<int> dims;             // planted hidden dimensions, ascending
  std::vector<float> signs;          // per planted dimension: the sign its residual carries
  std::vector<int> v_channels;       // per planted dimension j < v_channels.size(): v row
  std::vector<int> down_channels;    // per planted dimension: intermediate channel
  SynthOutlierColumns columns;
  std::vector<float> attn_norm_gain;  // per layer: norm weight at the planted dimensions
  std::vector<float> mlp_norm_gain;
};

// Throws eco::Error when K does not fit the shape.
SynthPlan make_synth_plan(const ModelConfig& config, const SynthOptions& opts);
// Elements [begin, begin + n) of tensor `tensor_index` (row-major), before rounding to the
// storage dtype. Independent of how a writer splits the work.
void synth_fill(const SynthPlan& plan, size_t tensor_index, uint64_t begin, size_t n, float* out);
// Standard deviation of the random part of row `row` of a tensor (the fused matrices have
// blocks of rows of different kinds); 0 for tensors that are not random.
float synth_row_std(const SynthPlan& plan, const SynthTensor& t, int64_t row);
// One line per matrix kind: how its weights are drawn, for synthetic.json.
std::string synth_weight_init(const SynthPlan& plan);

}  // namespace eco::model
