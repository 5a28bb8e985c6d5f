#include "engine/cpu/kv_cache.h"

#include <algorithm>

namespace eco::engine::cpu {

void KvCache::reset(int batch) {
  lengths_.assign(size_t(batch), 0);
  const size_t slots = size_t(batch) * size_t(layers_);
  if (k_.size() < slots) {
    k_.resize(slots);
    v_.resize(slots);
  }
}

void KvCache::grow(int seq, int new_length) {
  const size_t need = size_t(std::min(new_length, max_context_)) * size_t(kv_dim_);
  for (int l = 0; l < layers_; ++l) {
    auto& k = k_[index(seq, l)];
    auto& v = v_[index(seq, l)];
    if (k.size() < need) {
      // Geometric growth keeps decode from reallocating every step.
      const size_t target =
          std::min(std::max(need, k.size() * 2), size_t(max_context_) * size_t(kv_dim_));
      k.resize(target);
      v.resize(target);
    }
  }
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (const auto& k : k_) n += k.capacity();
  for (const auto& v : v_) n += v.capacity();
  return n * sizeof(float);
}

}  // namespace eco::engine::cpu
