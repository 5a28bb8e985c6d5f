// The rotary embedding of the CUDA engine: the host computes every inverse-frequency table the
// context can need (model/rope.h) once; each forward pass picks one on the device from the
// step's positions, so a captured decode graph follows the sequence length by itself.
#include <algorithm>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/engine_impl.h"

namespace eco::engine::cuda {

void CudaEngine::upload_rope_tables() {
  rope_schedule_ = model::rope_schedule(cfg_, opts_.max_context);
  const int n = rope_schedule_.count, half = cfg_.head_dim / 2;
  std::vector<float> inv(size_t(n) * size_t(half)), scaling(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const model::RopeTable t = model::rope_table(cfg_, rope_schedule_.seq_len_of(i));
    std::copy(t.inv_freq.begin(), t.inv_freq.end(), inv.begin() + ptrdiff_t(i) * half);
    scaling[size_t(i)] = t.attention_scaling;
  }
  inv_freq_.allocate(inv.size() * 4, fmt::format("rope frequencies ({} tables)", n));
  rope_scaling_.allocate(scaling.size() * 4, "rope scalings");
  rope_index_.allocate(4, "rope table index");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(inv_freq_.get(), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice, stream_),
      "uploading rope frequencies");
  ECO_CUDA_CHECK(cudaMemcpyAsync(rope_scaling_.get(), scaling.data(), scaling.size() * 4,
                                 cudaMemcpyHostToDevice, stream_),
                 "uploading rope scalings");
  ECO_CUDA_CHECK(cudaMemsetAsync(rope_index_.get(), 0, 4, stream_), "zeroing the rope index");
}

void CudaEngine::rotate_into_cache(const DeviceLayer& d, int m, const int* seq, const int* pos,
                                   void* k_cache, void* v_cache, const std::string& ln) {
  const auto& c = cfg_;
  const DevType t = model_.type;
  const void* bias = d.qkv_bias ? d.qkv_bias.get() : nullptr;
  if (c.qk_norm) {  // adds the bias itself, before the norms
    launch_qk_norm(t, act_.qkv.get(), bias, d.q_norm.get(), d.k_norm.get(), c.rms_norm_eps, m,
                   c.num_heads, c.num_kv_heads, c.head_dim, stream_, ln + " q/k norm");
    bias = nullptr;
  }
  RopeArgs ra;
  ra.qkv = act_.qkv.get();
  ra.bias = bias;
  ra.tok_seq = seq;
  ra.tok_pos = pos;
  ra.inv_freq = inv_freq_.as<float>();
  ra.scaling = rope_scaling_.as<float>();
  ra.table_index = rope_index_.as<int>();
  ra.q_out = act_.q.get();
  ra.k_cache = k_cache;
  ra.v_cache = v_cache;
  ra.m = m;
  ra.nh = c.num_heads;
  ra.nkv = c.num_kv_heads;
  ra.d = c.head_dim;
  ra.ctx = opts_.max_context;
  launch_rope_kv(t, ra, stream_, ln + " rope");
}

}  // namespace eco::engine::cuda
