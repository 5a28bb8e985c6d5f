#pragma once
// A loaded model: its config and a view of every weight by role, with shapes checked against
// the config. Fused Phi-3 tensors are split into views here so engines see one layout.
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"

namespace eco::model {

struct LayerWeights {
  TensorView attn_norm;       // [hidden]
  TensorView wq, wk, wv, wo;  // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  TensorView bq, bk, bv;      // Qwen2 biases [q_dim], [kv_dim] x2; empty otherwise
  TensorView bo;              // Llama attention_bias: o_proj bias [hidden]; empty otherwise
  TensorView q_norm, k_norm;  // Qwen3 per-head RMSNorm weights [head_dim]; empty otherwise
  TensorView mlp_norm;        // [hidden]
  TensorView w_gate, w_up;    // [intermediate, hidden]
  TensorView w_down;          // [hidden, intermediate]
};

struct ModelWeights {
  ModelConfig config;
  std::filesystem::path dir;
  TensorView embed;       // [vocab, hidden]
  TensorView final_norm;  // [hidden]
  TensorView lm_head;     // [vocab, hidden]; == embed when tied
  std::vector<LayerWeights> layers;
  std::shared_ptr<const TensorStore> store;  // keeps the mappings alive

  // Bytes of all weights as stored (lm_head counted once when tied).
  size_t stored_bytes() const;
};

// Loads config.json and the safetensors of `model_dir`, checks every expected tensor exists
// with the shape the config implies, and returns the views. Throws eco::Error otherwise.
ModelWeights load_model(const std::filesystem::path& model_dir);

}  // namespace eco::model
