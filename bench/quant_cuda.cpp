// GPU benchmark of the quantized formats (run by tools/gpu/bench_quant.sh on a lent
// GPU machine, not by ctest):
//   bench_quant_cuda DIR FORMATS BATCHES PROMPT NEW
// DIR holds a model (e.g. ecocompute synth mistral-7b --outliers 16:20). FORMATS: fp16, int8,
// int8-pure, int8-bnb (reference-bnb), nf4, nf4-dq, nf4-deq (nf4 with the dequantize + cuBLAS
// path forced), int8-eager (fused int8 without CUDA graphs: separates the graph's share of
// reference-bnb's penalty from the host synchronisations'). For each format and batch: decode
// tok/s, bytes a step reads (weights incl. scales + fp16 lm_head, KV), % of the measured copy
// bandwidth (the roofline), matmul path, load (on-GPU quantization) time, and for reference-bnb the
// host time blocked in its per-layer syncs. One JSON line per result ("RESULT ..."), then a
// Markdown table.
#include <cstdio>

#ifndef ECO_HAVE_CUDA
int main() {
  std::puts("bench_quant_cuda: built without CUDA");
  return 0;
}
#else
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/measure.h"
#include "common/error.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/linear.h"
#include "engine/engine.h"
#include "model/weights.h"

namespace {

using namespace eco;
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

// Device-to-device copy bandwidth (bytes read + written per second), median of 10.
double copy_bandwidth() {
  const size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess)
    fail("cudaMalloc");
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 13; ++i) {
    cudaEventRecord(e0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i >= 3) t.push_back(ms * 1e-3);
  }
  cudaFree(a);
  cudaFree(b);
  std::sort(t.begin(), t.end());
  return 2.0 * double(bytes) / t[t.size() / 2];
}

// The matmul path of the decoder's linear layers at batch b (the engine's own choice function).
std::string path_at(const quant::FormatSpec& spec, const engine::CudaPathOptions& paths, int b,
                    int k) {
  const quant::FormatSpec f = spec.quantized() ? spec : quant::parse_format("fp16");
  return engine::cuda::matmul_path_name(engine::cuda::choose_matmul_path(f, paths, b, k), f);
}

struct Row {
  std::string format, path;
  int batch;
  double tok_s, step_ms, gb_s, roof, load_s, sync_frac;
  double bpw;
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_quant_cuda DIR FORMATS BATCHES PROMPT NEW\n");
    return 2;
  }
  const std::string dir = argv[1];
  const auto formats = split(argv[2]);
  std::vector<int> batches;
  for (const auto& b : split(argv[3])) batches.push_back(std::stoi(b));
  const int prompt = std::stoi(argv[4]), steps = std::stoi(argv[5]);
  const double bw = copy_bandwidth();
  fmt::print(stderr, "copy bandwidth {:.0f} GB/s\n", bw / 1e9);
  const auto w = model::load_model(dir);
  const auto& c = w.config;
  const double linear_params =
      double(c.num_layers) *
      (double(c.hidden_size) * (c.q_dim() + 2 * c.kv_dim()) + double(c.q_dim()) * c.hidden_size +
       3.0 * c.hidden_size * c.intermediate_size);
  std::vector<Row> rows;
  for (const auto& fname : formats) {
    const bool eager = fname == "int8-eager";
    quant::FormatSpec spec = quant::parse_format(fname == "int8-bnb" || eager ? "int8"
                                                 : fname == "nf4-deq"         ? "nf4"
                                                                              : fname);
    if (fname == "int8-bnb") spec.int8_impl = quant::Int8Impl::ReferenceBnb;
    engine::EngineOptions o;
    o.cuda.eager_decode = eager;
    o.cuda.nf4_fused_max_batch = fname == "nf4-deq" ? 0 : 64;
    o.device = engine::DeviceKind::Cuda;
    o.format = spec;
    o.max_batch = *std::max_element(batches.begin(), batches.end());
    o.max_context = prompt + steps + 8;
    const auto t_load = Clock::now();
    auto e = engine::create_engine(w, o);
    const double load_s = since(t_load);
    const auto tm = engine::cuda::traffic_model(*e);
    const double lin_bytes = double(tm.weight_bytes) - 2.0 * c.vocab_size * c.hidden_size;
    fmt::print(stderr, "{}: {}\n  loaded in {:.1f} s; weights read per step {:.3f} GB\n", fname,
               e->describe(), load_s, double(tm.weight_bytes) / 1e9);
    if (spec.format == quant::WeightFormat::Int8 && spec.int8_threshold > 0 && fname == "int8") {
      // Outlier columns per matmul (qkv, o, gate/up, down of each layer) at each batch, from
      // one eager decode step after a prefill of random tokens: what the outlier product pays
      // for (a column counts when any row of the batch has |x| >= threshold there).
      engine::CudaPathOptions counting = o.cuda;
      counting.count_outliers = true;
      for (int b : batches) {
        e->prefill(bench::make_prompts(b, prompt, c.vocab_size, uint64_t(1000 + b)));
        engine::cuda::set_cuda_paths(*e, counting);
        (void)engine::cuda::take_quant_stats(*e);
        e->decode_greedy(2);
        e->synchronize();
        engine::cuda::set_cuda_paths(*e, o.cuda);
        const auto counts = engine::cuda::take_quant_stats(*e).outlier_counts;
        const char* names[4] = {"qkv", "o", "gate_up", "down"};
        for (int kind = 0; kind < 4; ++kind) {
          std::vector<int> v;
          for (size_t i = size_t(kind); i < counts.size(); i += 4) v.push_back(counts[i]);
          if (v.empty()) continue;
          std::sort(v.begin(), v.end());
          fmt::print(stderr,
                     "  outlier columns (threshold {:g}, batch {}, decode) {}: min {} median {} "
                     "max {} over {} layers\n",
                     spec.int8_threshold, b, names[kind], v.front(), v[v.size() / 2], v.back(),
                     v.size());
        }
      }
    }
    for (int b : batches) {
      const auto p = bench::make_prompts(b, prompt, c.vocab_size, uint64_t(b));
      e->prefill(p);
      e->decode_greedy(std::min(steps, 16));
      std::vector<double> times, syncs;
      for (int rep = 0; rep < 3; ++rep) {
        e->prefill(p);
        e->synchronize();
        (void)engine::cuda::take_quant_stats(*e);
        const auto t0 = Clock::now();
        e->decode_greedy(steps);
        e->synchronize();
        times.push_back(since(t0));
        syncs.push_back(engine::cuda::take_quant_stats(*e).sync_seconds);
      }
      const size_t mid = 1;
      std::vector<size_t> idx = {0, 1, 2};
      std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return times[x] < times[y]; });
      const double t = times[idx[mid]], sync_s = syncs[idx[mid]];
      const int dsteps = steps - 1;
      const double bytes =
          engine::cuda::decode_step_bytes(tm, double(b) * (prompt + (dsteps - 1) / 2.0), b);
      const double step_s = t / dsteps;
      Row r{fname,
            path_at(spec, o.cuda, b, c.hidden_size),
            b,
            double(b) * dsteps / t,
            step_s * 1e3,
            bytes / step_s / 1e9,
            bytes / step_s / bw,
            load_s,
            sync_s / t,
            lin_bytes / linear_params};
      rows.push_back(r);
      fmt::print(
          "RESULT {{\"format\":\"{}\",\"batch\":{},\"tok_s\":{:.2f},\"step_ms\":{:.4f},"
          "\"bytes_per_step\":{:.0f},\"gb_s\":{:.1f},\"roofline\":{:.4f},\"copy_gb_s\":{:.1f},"
          "\"load_s\":{:.2f},\"sync_blocked_frac\":{:.4f},\"linear_bytes_per_weight\":{:.4f},"
          "\"path\":\"{}\",\"engine\":\"{}\"}}\n",
          fname, b, r.tok_s, r.step_ms, bytes, r.gb_s, r.roof, bw / 1e9, load_s, r.sync_frac, r.bpw,
          r.path, e->describe());
      std::fflush(stdout);
    }
  }
  fmt::print(
      "\n| format | batch | tok/s | ms/step | GB/s | roofline % | B/weight (linear) | load s | "
      "host-sync blocked % | matmul path |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    fmt::print("| {} | {} | {:.1f} | {:.3f} | {:.0f} | {:.1f} | {:.4f} | {:.1f} | {} | {} |\n",
               r.format, r.batch, r.tok_s, r.step_ms, r.gb_s, 100 * r.roof, r.bpw, r.load_s,
               r.format == "int8-bnb" ? fmt::format("{:.1f}", 100 * r.sync_frac) : "-", r.path);
  return 0;
} catch (const std::exception& ex) {
  std::fprintf(stderr, "bench_quant_cuda: %s\n", ex.what());
  return 1;
}
#endif
