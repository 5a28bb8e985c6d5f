#pragma once
// The architecture hyper-parameters of a Hugging Face decoder-only model (config.json).
#include <filesystem>
#include <string>
#include <vector>

#include "model/dtype.h"

namespace eco::model {

enum class Arch { Llama, Mistral, Qwen2, Phi3 };
std::string_view arch_name(Arch a);  // "llama", "mistral", "qwen2", "phi3"

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
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 (always), Llama with attention_bias: q/k/v carry a bias
  // Llama's attention_bias also gives o_proj a bias (LayerWeights::bo); Qwen2's o_proj has none.
  bool o_bias = false;
  // Sliding-window attention span (0 = none). Mistral v0.1 and Phi-3 declare one; Qwen2 only
  // when use_sliding_window is true. Both engines apply it: the query at position p attends to
  // positions p - sliding_window + 1 .. p, as transformers masks it.
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
