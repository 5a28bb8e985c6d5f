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
  bool qkv_bias = false;  // Qwen2: q/k/v projections carry a bias
  int bos_token_id = -1;  // -1 when absent
  std::vector<int> eos_token_ids;
  DType dtype = DType::F32;  // torch_dtype or dtype; F32 when absent

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // Parameter count including embeddings and lm_head (counted once when tied).
  int64_t parameter_count() const;
};

// Parses config.json text. `source` names the file in error messages. Throws eco::Error for
// missing or inconsistent fields and for features the engines do not implement (e.g. a
// rope_scaling type, sliding-window attention shorter than the context actually used).
ModelConfig parse_config(const std::string& json_text, const std::string& source);
ModelConfig load_config(const std::filesystem::path& model_dir);

}  // namespace eco::model
