// CPU micro-benchmarks of the quant/ reference paths: load-time quantization of one
// 4096 x 4096 projection and a batch-1 reference matmul, per format. Numbers belong in
// docs/BENCHMARKS.md with the machine they were measured on; these are not GPU figures.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/quantized_matrix.h"

namespace {

constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;
const char* const kFormats[] = {"fp16", "int8", "int8-pure", "nf4", "nf4-dq"};

const std::vector<float>& weights() {
  static const std::vector<float> w = [] {
    std::vector<float> v(size_t(kRows * kCols));
    std::mt19937 gen(42);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& x : v) x = normal(gen);
    return v;
  }();
  return w;
}

void BM_Quantize(benchmark::State& state) {
  const auto spec = eco::quant::parse_format(kFormats[state.range(0)]);
  state.SetLabel(spec.name());
  for (auto _ : state) {
    auto m = eco::quant::quantize_matrix(weights().data(), kRows, kCols, spec);
    benchmark::DoNotOptimize(m.data.data());
  }
  state.SetItemsProcessed(state.iterations() * kRows * kCols);  // weights per second
}
BENCHMARK(BM_Quantize)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);

void BM_LinearForward(benchmark::State& state) {
  const auto spec = eco::quant::parse_format(kFormats[state.range(0)]);
  const int rows = int(state.range(1));
  state.SetLabel(spec.name());
  const auto m = eco::quant::quantize_matrix(weights().data(), kRows, kCols, spec);
  std::vector<float> x(size_t(rows * kCols), 0.5f), y(size_t(rows * kRows));
  x[7] = 20.0f;  // one outlier column for int8 with threshold 6
  for (auto _ : state) {
    eco::quant::linear_forward(m, x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * kRows * kCols);  // multiply-adds per second
}
BENCHMARK(BM_LinearForward)->ArgsProduct({{0, 1, 2, 3, 4}, {1, 8}})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
