#pragma once
// Per-sequence key/value cache of the CPU engine: for each sequence and layer, fp32 keys and
// values [positions, kv_dim]. Capacity is max_context positions; memory grows with the
// positions actually used, so a model with a 32k-token context does not reserve gigabytes for a
// 40-token run.
#include <cstddef>
#include <vector>

namespace eco::engine::cpu {

class KvCache {
 public:
  KvCache(int layers, int kv_dim, int max_context)
      : layers_(layers), kv_dim_(kv_dim), max_context_(max_context) {}

  // Starts `batch` empty sequences (memory of earlier batches is reused).
  void reset(int batch);
  int batch() const { return int(lengths_.size()); }
  int max_context() const { return max_context_; }
  int length(int seq) const { return lengths_[size_t(seq)]; }
  // Makes positions [0, new_length) of `seq` addressable; the caller checked max_context.
  void grow(int seq, int new_length);
  void set_length(int seq, int n) { lengths_[size_t(seq)] = n; }

  float* keys(int seq, int layer) { return k_[index(seq, layer)].data(); }
  float* values(int seq, int layer) { return v_[index(seq, layer)].data(); }
  size_t bytes() const;

 private:
  size_t index(int seq, int layer) const { return size_t(seq) * size_t(layers_) + size_t(layer); }

  int layers_, kv_dim_, max_context_;
  std::vector<int> lengths_;
  std::vector<std::vector<float>> k_, v_;  // [seq * layers + layer] -> [positions * kv_dim]
};

}  // namespace eco::engine::cpu
