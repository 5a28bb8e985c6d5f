#pragma once
// The architecture hyper-parameters of a Hugging Face decoder-only model (config.json).
#include <filesystem>
#include <string>
#include <vector>

#include "model/dtype.h"

namespace eco::model {

enum class Arch { Llama, Mistral, Qwen2, Phi3, Qwen3 };
std::string_view arch_name(Arch a);  // "llama", "mistral", "qwen2", "phi3", "qwen3"

// The RoPE variants of transformers' modeling_rope_utils (rope_type of rope_scaling or
// rope_parameters). model/rope.h turns them into inverse-frequency tables.
enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn, LongRope };
std::string_view rope_type_name(RopeType t);  // "default", "linear", ... as in config.json

// The parameters of a scaled RoPE, with transformers' defaults already applied (so two configs
// that transformers reads alike compare equal). Fields a type does not use stay at their
// defaults.
struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;  // linear, dynamic, llama3, yarn, longrope
  // The pretraining context (llama3, yarn, longrope): transformers 5 takes the top-level
  // original_max_position_embeddings (Phi-3), else rope_scaling's, else max_position_embeddings.
  int original_max_positions = 0;
  double low_freq_factor = 0.0, high_freq_factor = 0.0;  // llama3
  double attention_factor = 0.0;                         // yarn, longrope; 0: derived from factor
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  double mscale = 0.0, mscale_all_dim = 0.0;             // yarn; 0: absent
  bool truncate = true;                                  // yarn: floor/ceil the correction range
  std::vector<double> short_factor, long_factor;         // longrope: head_dim / 2 values each

  bool operator==(const RopeScaling&) const = default;
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string model_type;  // as written in config.json
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;  // defaults to num_heads
  int head_dim = 0;      // defaults to hidden_size / num_heads
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;  // top-level rope_theta or rope_parameters.rope_theta
  RopeScaling rope;             // rope_scaling (transformers 4) or rope_parameters (5)
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 (always), Llama with attention_bias: q/k/v carry a bias
  // Llama's attention_bias also gives o_proj a bias (LayerWeights::bo); Qwen2's o_proj has none.
  bool o_bias = false;
  // Qwen3: an RMSNorm over each head's head_dim values of q and of k (weights q_norm / k_norm,
  // [head_dim], eps rms_norm_eps), after the projections and before RoPE.
  bool qk_norm = false;
  // Sliding-window attention span (0 = none). Mistral v0.1 and Phi-3 declare one; Qwen2/Qwen3
  // only when use_sliding_window is true and every layer is a sliding one (layer_types, or
  // max_window_layers 0); a mix of sliding and full layers is refused. Both engines apply it: the
  // query at position p attends to positions p - sliding_window + 1 .. p, as transformers masks it.
  int sliding_window = 0;
  int bos_token_id = -1;  // -1 when absent
  std::vector<int> eos_token_ids;
  DType dtype = DType::F32;  // torch_dtype or dtype; F32 when absent

  int q_dim() const { return num_heads * head_dim; }
  // True when a context of `tokens` positions gives the same results as full attention (the
  // window masks nothing).
  bool fits_context(int tokens) const { return sliding_window <= 0 || tokens <= sliding_window; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // Parameter count including embeddings and lm_head (counted once when tied).
  int64_t parameter_count() const;

  bool operator==(const ModelConfig&) const = default;
};

Arch parse_arch(std::string_view model_type, std::string_view source);

// Parses config.json text. `source` names the file in error messages. Throws eco::Error for
// missing or inconsistent fields and for features the engines do not implement (e.g. a
// rope_scaling type, sliding-window attention shorter than the context actually used).
ModelConfig parse_config(const std::string& json_text, const std::string& source);
ModelConfig load_config(const std::filesystem::path& model_dir);
// config.json text that Hugging Face transformers loads (architectures, model_type, every field
// its config class reads) and parse_config reads back to an equal ModelConfig.
std::string config_to_json(const ModelConfig& config);

}  // namespace eco::model
