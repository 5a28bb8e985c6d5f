#pragma once
// Counts LLM.int8() outlier columns (any row with |x| >= threshold) at every matmul input of a
// model, on the CPU engine, over a prefill and greedy decode steps at given batch sizes: what
// `ecocompute synth --census` prints and what the synthetic-outlier tests check.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cpu/cpu_engine.h"

namespace eco::engine::cpu {

struct OutlierCensusOptions {
  std::vector<int> batches = {1, 8, 64};
  int prompt_len = 32;  // random token ids per sequence
  int decode_steps = 32;
  float threshold = 6.0f;
  bool include_prefill = false;  // count the prefill's matmuls too (else decode steps only)
  std::string format = "fp16";   // weight format the activations are computed in
  uint64_t seed = 1;             // of the prompts
};

// One matmul input kind at one batch size, over every observed matmul (steps x layers).
struct MatmulCensus {
  MatmulInput kind = MatmulInput::Qkv;
  int batch = 0;
  int cols = 0;
  std::vector<int> counts;              // outlier columns of each observed matmul
  std::vector<int64_t> column_matmuls;  // per column: matmuls in which it was an outlier column
  std::vector<int64_t> column_rows;     // per column: rows with |x| >= threshold
  std::vector<float> column_max;        // per column: largest |x| seen
  int64_t matmuls = 0;
  int64_t rows = 0;  // rows observed (tokens x layers)
};

struct OutlierCensus {
  std::vector<MatmulCensus> matmuls;         // per batch, the four kinds in MatmulInput order
  std::vector<std::vector<int32_t>> greedy;  // per batch: sequence 0's generated tokens
};

// Throws eco::Error for an empty batch list, a batch below 1 or lengths that do not fit the
// model's context.
OutlierCensus outlier_census(const model::ModelWeights& weights, const OutlierCensusOptions& opts);

// The median of a census' per-matmul counts (0 when empty).
double median_count(const MatmulCensus& c);

}  // namespace eco::engine::cpu
