#pragma once
// RoPE inverse frequencies and attention scaling exactly as transformers computes them
// (modeling_rope_utils: _compute_{default,linear_scaling,dynamic_ntk,llama3,yarn,longrope}_
// parameters and the dynamic_rope_update switching). Both engines rotate q and k with
// cos/sin(pos * inv_freq[i]) * attention_scaling from these tables, so their kernels stay
// generic and every variant is decided here, on the host.
#include <vector>

#include "model/config.h"

namespace eco::model {

struct RopeTable {
  std::vector<float> inv_freq;     // [head_dim / 2], fp32 as transformers' buffer
  float attention_scaling = 1.0f;  // multiplies cos and sin (yarn, longrope)

  bool operator==(const RopeTable&) const = default;
};

// The table of a forward pass whose longest sequence reaches `seq_len` positions (transformers:
// max(position_ids) + 1 over the batch). Only dynamic (NTK) and longrope depend on it: dynamic
// grows the base beyond max_position_embeddings, longrope takes its long factors beyond the
// pretraining context. Keys already in a KV cache keep the rotation they were written with, as
// in transformers' forward with a cache (Phi-3's generate instead recomputes its cache where
// longrope first switches; docs/ROPE.md says why the engines do not).
RopeTable rope_table(const ModelConfig& c, int seq_len);

// The distinct tables an engine with a context of `max_context` positions can need: table i
// serves the sequence lengths index(seq_len) == i. Engines that cannot recompute a table per
// step (CUDA graphs) upload all of them and pick one on the device with the same rule:
// index = clamp(seq_len - threshold, 0, count - 1).
struct RopeSchedule {
  int threshold = 0;  // longest sequence that table 0 serves
  int count = 1;

  int index(int seq_len) const;
  int seq_len_of(int index) const { return threshold + index; }  // a length table i serves
};
RopeSchedule rope_schedule(const ModelConfig& c, int max_context);

// The attention factor transformers derives when the config gives none (yarn: from factor,
// mscale and mscale_all_dim; longrope: from factor and the pretraining context).
double rope_attention_factor(const RopeScaling& r);

}  // namespace eco::model
