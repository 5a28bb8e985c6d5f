#include "engine/cpu/outlier_census.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/error.h"

namespace eco::engine::cpu {

namespace {

void record(MatmulCensus& c, const float* x, int rows, int cols, float threshold) {
  std::vector<uint8_t> hit(size_t(cols), 0);
  for (int r = 0; r < rows; ++r) {
    const float* row = x + size_t(r) * size_t(cols);
    for (int j = 0; j < cols; ++j) {
      c.column_max[size_t(j)] = std::max(c.column_max[size_t(j)], std::fabs(row[j]));
      if (std::fabs(row[j]) >= threshold) {
        hit[size_t(j)] = 1;
        ++c.column_rows[size_t(j)];
      }
    }
  }
  int count = 0;
  for (int j = 0; j < cols; ++j) {
    if (hit[size_t(j)]) {
      ++count;
      ++c.column_matmuls[size_t(j)];
    }
  }
  c.counts.push_back(count);
  ++c.matmuls;
  c.rows += rows;
}

std::vector<std::vector<int32_t>> random_prompts(int batch, int len, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<std::vector<int32_t>> prompts(size_t(batch), std::vector<int32_t>(size_t(len), 0));
  for (auto& p : prompts)
    for (auto& t : p) t = id(rng);
  return prompts;
}

}  // namespace

OutlierCensus outlier_census(const model::ModelWeights& weights, const OutlierCensusOptions& o) {
  const model::ModelConfig& c = weights.config;
  if (o.batches.empty()) fail("outlier census: no batch sizes given");
  if (o.prompt_len < 1 || o.decode_steps < 0)
    fail("outlier census: prompt length must be >= 1 and steps >= 0 (got {} and {})", o.prompt_len,
         o.decode_steps);
  OutlierCensus out;
  for (int batch : o.batches) {
    if (batch < 1) fail("outlier census: batch size {} must be at least 1", batch);
    std::array<MatmulCensus, 4> acc;
    const std::array<int, 4> cols = {c.hidden_size, c.q_dim(), c.hidden_size, c.intermediate_size};
    for (size_t k = 0; k < 4; ++k) {
      acc[k].kind = MatmulInput(k);
      acc[k].batch = batch;
      acc[k].cols = cols[k];
      acc[k].column_matmuls.assign(size_t(cols[k]), 0);
      acc[k].column_rows.assign(size_t(cols[k]), 0);
      acc[k].column_max.assign(size_t(cols[k]), 0.0f);
    }
    bool counting = o.include_prefill;
    auto observer = [&](MatmulInput kind, int, const float* x, int rows, int n) {
      if (counting) record(acc[size_t(kind)], x, rows, n, o.threshold);
    };
    EngineOptions eo;
    eo.device = DeviceKind::Cpu;
    eo.format = quant::parse_format(o.format);
    eo.max_batch = batch;
    eo.max_context = o.prompt_len + o.decode_steps + 1;
    auto engine = create_cpu_engine(weights, eo, observer);
    engine->prefill(random_prompts(batch, o.prompt_len, c.vocab_size, o.seed + uint64_t(batch)));
    counting = true;
    std::vector<int32_t> tokens = engine->argmax();
    std::vector<int32_t> greedy = {tokens[0]};
    for (int s = 0; s < o.decode_steps; ++s) {
      engine->decode(tokens);
      tokens = engine->argmax();
      greedy.push_back(tokens[0]);
    }
    out.matmuls.insert(out.matmuls.end(), acc.begin(), acc.end());
    out.greedy.push_back(std::move(greedy));
  }
  return out;
}

double median_count(const MatmulCensus& c) {
  if (c.counts.empty()) return 0.0;
  std::vector<int> v = c.counts;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + long(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const int hi = v[mid];
  std::nth_element(v.begin(), v.begin() + long(mid - 1), v.end());
  return 0.5 * (v[mid - 1] + hi);
}

}  // namespace eco::engine::cpu
