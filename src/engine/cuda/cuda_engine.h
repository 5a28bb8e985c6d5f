#pragma once
// The CUDA engine (compiled only when the CUDA toolkit is found). Plain C++ header: no CUDA
// types leak into the rest of the program.
#include <cstddef>
#include <memory>
#include <vector>

#include "engine/engine.h"

namespace eco::engine::cuda {

int device_count();  // 0 when no driver or no visible device; never throws
std::unique_ptr<Engine> create_cuda_engine(const model::ModelWeights& weights,
                                           const EngineOptions& opts);

// Memory traffic accounting for the bandwidth roofline of a decode step.
struct TrafficModel {
  size_t weight_bytes = 0;            // every weight a decode step reads once (lm_head included;
                                      // the embedding table only for the gathered rows: excluded)
  size_t kv_bytes_per_token = 0;      // K and V of one cached position, all layers
  size_t kv_cache_bytes = 0;          // allocated KV cache (max_batch x max_context)
  size_t weights_resident_bytes = 0;  // all weights on the device (embedding table included)
};
// Throws eco::Error when `engine` is not a CUDA engine.
TrafficModel traffic_model(const Engine& engine);
// Diagnostics of the quantized matmuls of one CUDA engine, gathered since the last
// take_quant_stats() (benchmarks).
struct QuantStats {
  long long syncs = 0;              // reference-bnb host synchronisations
  double sync_seconds = 0.0;        // host time blocked in them
  std::vector<int> outlier_counts;  // CudaPathOptions::count_outliers: per matmul, in call order
};
// Returns the diagnostics and starts counting afresh. Throws eco::Error when `engine` is not a
// CUDA engine.
QuantStats take_quant_stats(Engine& engine);
// Changes the path choices of a CUDA engine between runs (options().cuda, describe() and the next
// decode, whose CUDA graph is captured again, follow). Throws when `engine` is not a CUDA engine.
void set_cuda_paths(Engine& engine, const CudaPathOptions& paths);

// Bytes a decode step reads when the sequences hold `total_cached_positions` tokens together
// before the step (each reads its cache, writes one position).
inline double decode_step_bytes(const TrafficModel& t, double total_cached_positions, int batch) {
  return double(t.weight_bytes) + double(t.kv_bytes_per_token) * (total_cached_positions + batch);
}

}  // namespace eco::engine::cuda
