#pragma once
// Internals of the CUDA engine, shared by engine_setup.cpp (checks, device, memory, buffers),
// cuda_engine.cpp (forward passes, graphs, the Engine interface), rope_tables.cpp and
// weights_upload.cpp (weights from TensorViews to the device).
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/linear.h"
#include "model/rope.h"

namespace eco::engine::cuda {

struct DeviceLayer {
  DeviceBuffer attn_norm, mlp_norm;  // [hidden] T
  LinearWeight qkv;                  // [q_dim + 2 kv_dim, hidden]: q | k | v rows
  DeviceBuffer qkv_bias;             // [q_dim + 2 kv_dim] T, or empty
  DeviceBuffer q_norm, k_norm;       // Qwen3 per-head RMSNorm weights [head_dim] T, or empty
  DeviceBuffer o_bias;               // [hidden] T (attention_bias), or empty
  LinearWeight o;                    // [hidden, q_dim]
  LinearWeight gate_up;              // [2 intermediate, hidden], gate/up interleaved by 8 rows
  LinearWeight down;                 // [hidden, intermediate]
};

struct DeviceModel {
  DevType type = DevType::F16;
  quant::WeightFormat format = quant::WeightFormat::FP16;
  DeviceBuffer embed;  // [vocab, hidden] T
  DeviceBuffer final_norm;
  LinearWeight lm_head;  // shares embed's memory when tied
  std::vector<DeviceLayer> layers;
  size_t resident_bytes = 0;
};

// Picks the engine's element type for a format and the stored dtype (throws for formats the
// CUDA engine does not run).
DevType resolve_devtype(const quant::FormatSpec& fmt, model::DType stored);
// Bytes the weights will take on the device (checked against free memory before uploading).
size_t device_weight_bytes(const model::ModelWeights& w);
// `linear_format`, when quantized, is the format of the decoder's linear layers (quantized on
// the device, quant_linear.h); the embedding, norms and lm_head stay in `fmt`.
void upload_model(const model::ModelWeights& w, DevType t, quant::WeightFormat fmt,
                  DeviceModel& out, cudaStream_t stream,
                  const quant::FormatSpec& linear_format = {});

// Activation buffers for up to `rows` token rows.
struct Activations {
  int rows = 0;
  DeviceBuffer resid, xn, qkv, q, attn, gu, act;
  DeviceBuffer tok, seq, pos;  // per-token ids, sequence, position (prefill)
};

class CudaEngine final : public Engine {
 public:
  CudaEngine(const model::ModelWeights& weights, const EngineOptions& opts);
  ~CudaEngine() override;

  const model::ModelConfig& config() const override { return cfg_; }
  const EngineOptions& options() const override { return opts_; }
  std::string describe() const override;
  void prefill(const std::vector<std::vector<int32_t>>& prompts, bool all_logits) override;
  void decode(const std::vector<int32_t>& tokens) override;
  std::vector<int32_t> argmax() override;
  std::vector<std::vector<int32_t>> decode_greedy(int steps) override;
  std::vector<float> logits() override;
  void synchronize() override;
  int sequence_length(int i) const override;
  bool can_restore_position() const override { return true; }
  void save_position() override;
  void restore_position() override;

  TrafficModel traffic() const;
  QuantStats take_quant_stats();
  void set_paths(const CudaPathOptions& paths);

 private:
  // Rows of the fused-RMSNorm accumulators (>= gemv_max_batch()).
  static constexpr int kSumsqLd = 16;

  void set_device() const;
  void open_device();  // the stream and cuBLAS handles on opts_.device_index
  // Sizes the KV cache (layer_cache_elems_) and checks that weights, cache and activations for
  // rows0 rows fit in free memory; returns the cache's bytes (K and V).
  size_t check_memory(const model::ModelWeights& weights, int rows0);
  void allocate_step_state();  // norm accumulators, attention scratch, per-sequence arrays
  void upload_rope_tables();   // rope_schedule_ and its tables, from the config (model/rope.h)
  // Qwen3's q/k norms (when the model has them), then RoPE with the step's table: q into
  // act_.q, k and v into this layer's caches.
  void rotate_into_cache(const DeviceLayer& d, int m, const int* seq, const int* pos, void* k_cache,
                         void* v_cache, const std::string& ln);
  void ensure_rows(int rows);
  void ensure_logit_rows(int rows);
  void ensure_hist(int steps);
  int decode_splits(int batch) const;
  // The layers for m token rows described by device arrays tok/seq/pos (indexed by row);
  // fused_norm: the matmuls read the residual through the fused RMSNorm (fused_norm_input(m)).
  void forward_layers(int m, const int* tok, const int* seq, const int* pos, int splits,
                      bool fused_norm, const std::string& phase);
  // The input of a matmul that follows an RMSNorm with weights gamma over the residual: read
  // through the fused norm (accumulator slot `slot`), or normalised into act_.xn first.
  LinearIn normed_input(const void* gamma, int slot, int m, bool fused_norm,
                        const std::string& step);
  void attention_block(const DeviceLayer& d, int l, int m, const int* seq, const int* pos,
                       int splits, bool fused_norm, const std::string& ln);
  void mlp_block(const DeviceLayer& d, int l, int m, bool fused_norm, const std::string& ln);
  void decode_step(int batch);  // enqueue one decode step (what the graph captures)
  void run_decode_graph(int batch);
  void drop_graphs();
  void check_room(int steps) const;

  model::ModelConfig cfg_;
  EngineOptions opts_;
  DeviceModel model_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Blas> blas_;
  int sm_count_ = 0;
  std::string device_name_;

  DeviceBuffer k_cache_, v_cache_;  // [layers][max_batch][nkv][ctx][d] T
  size_t layer_cache_elems_ = 0;
  // RoPE: every table of the schedule ([count][head_dim / 2] inverse frequencies, [count]
  // attention scalings) and, when count > 1, the table index of the current step, chosen on
  // the device from the step's positions (so a captured decode graph follows the length).
  model::RopeSchedule rope_schedule_;
  DeviceBuffer inv_freq_, rope_scaling_, rope_index_;
  Activations act_;
  DeviceBuffer logits_;
  int logit_rows_cap_ = 0;
  DeviceBuffer sumsq_;  // [(2 layers + 1)][16] fp32 (GEMV path's fused RMSNorm)
  DeviceBuffer attn_partial_, attn_counters_;
  DeviceBuffer d_pos_, d_iota_, d_tokens_, d_hist_, d_hist_base_, d_last_rows_;
  int hist_cap_ = 0;

  int batch_ = 0;             // sequences in the current batch
  int logit_rows_ = 0;        // rows of logits_ currently valid
  std::vector<int> lengths_;  // host copy of the sequence lengths
  // save_position(): copies of the decode state (next tokens, positions, logits) on the device.
  DeviceBuffer saved_tokens_, saved_pos_, saved_logits_;
  std::vector<int> saved_lengths_;
  int saved_logit_rows_ = 0;
  std::map<int, cudaGraphExec_t> graphs_;
};

}  // namespace eco::engine::cuda
