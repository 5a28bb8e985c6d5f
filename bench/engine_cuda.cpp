// GPU engine benchmark (run by tools/gpu/bench_engine.sh on a lent GPU machine; not by ctest).
//
//   bench_engine_cuda synth SHAPE DIR                 write a synthetic model (fp16)
//   bench_engine_cuda decode DIR B1,B2,.. PROMPT NEW  decode tok/s, bytes/step, GB/s, host CPU %,
//                                                     J/token
//   bench_engine_cuda gemv B1,B2,..                   the fp16 GEMV alone on mistral-7b's four
//                                                     shapes: time and GB/s of weights
//   bench_engine_cuda prefill DIR TOKENS               prefill time and TFLOP/s
//   bench_engine_cuda greedy DIR OUT.json N           N greedy tokens + first logits for the
//                                                     transformers cross-check
// Every result is one JSON line on stdout (prefixed "RESULT "), read by the shell script.
// Without CUDA this program only says so.
#include <cstdio>

#ifndef ECO_HAVE_CUDA
int main() {
  std::puts("bench_engine_cuda: built without CUDA");
  return 0;
}
#else
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "ecocompute/meter.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/kernels.h"
#include "engine/engine.h"
#include "model/synth.h"
#include "model/weights.h"

namespace {

using namespace eco;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<std::vector<int32_t> > prompts(int batch, int len, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> tok(3, vocab - 1);
  std::vector<std::vector<int32_t> > p(static_cast<size_t>(batch),
                                       std::vector<int32_t>(static_cast<size_t>(len)));
  for (auto& s : p)
    for (auto& t : s) t = tok(rng);
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  size_t p = 0;
  while (p < s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    out.push_back(std::stoi(s.substr(p, q - p)));
    p = q + 1;
  }
  return out;
}

int run_decode(const std::string& dir, const std::vector<int>& batches, int prompt, int steps) {
  const auto w = model::load_model(dir);
  const int maxb = *std::max_element(batches.begin(), batches.end());
  engine::EngineOptions o;
  o.device = engine::DeviceKind::Cuda;
  o.format = quant::parse_format("fp16");
  o.max_batch = maxb;
  o.max_context = prompt + steps + 8;
  auto t_load = Clock::now();
  auto e = engine::create_engine(w, o);
  const double load_s = since(t_load);
  const auto tm = engine::cuda::traffic_model(*e);
  fmt::print(stderr, "{}\nloaded in {:.1f} s; weights read per step {:.3f} GB\n", e->describe(),
             load_s, double(tm.weight_bytes) / 1e9);
  // Energy of each timed decode (gross, energy counter of device 0; NaN without NVML).
  meter::MeterOptions mo;
  mo.use_host = false;
  mo.interval_s = 0;  // counter read at the window's edges only: no sampler thread in the CPU %
  meter::Meter meter(mo);
  for (int b : batches) {
    const auto p = prompts(b, prompt, w.config.vocab_size, uint32_t(b));
    // Warm-up: captures this batch size's graph and brings clocks up.
    e->prefill(p);
    e->decode_greedy(std::min(steps, 32));
    std::vector<double> times, cpus, joules;
    for (int rep = 0; rep < 3; ++rep) {
      e->prefill(p);
      e->synchronize();
      const double c0 = cpu_seconds();
      const auto t0 = Clock::now();
      meter.begin("decode");
      const auto toks = e->decode_greedy(steps);
      e->synchronize();
      const auto win = meter.end("decode");
      times.push_back(since(t0));
      cpus.push_back(cpu_seconds() - c0);
      joules.push_back(win.devices.empty() ? std::nan("") : win.devices[0].gross_j);
      if (int(toks.size()) != steps) eco::fail("decode_greedy returned {} steps", toks.size());
    }
    const double t = median(times), cpu = median(cpus), j = median(joules);
    const int dsteps = steps - 1;  // the first token comes from prefill's logits
    // Average cached positions per sequence before a step: prompt + (dsteps - 1) / 2.
    const double bytes =
        engine::cuda::decode_step_bytes(tm, double(b) * (prompt + (dsteps - 1) / 2.0), b);
    const double step_s = t / dsteps;
    fmt::print(
        "RESULT {{\"kind\":\"decode\",\"batch\":{},\"prompt\":{},\"steps\":{},\"seconds\":{:.6f},"
        "\"tok_s\":{:.2f},\"step_ms\":{:.4f},\"bytes_per_step\":{:.0f},\"weight_bytes\":{},"
        "\"gb_s\":{:.2f},\"host_cpu_frac\":{:.4f},\"j_per_token\":{}}}\n",
        b, prompt, dsteps, t, double(b) * dsteps / t, step_s * 1e3, bytes, tm.weight_bytes,
        bytes / step_s / 1e9, cpu / t,
        std::isfinite(j) ? fmt::format("{:.5f}", j / (double(b) * dsteps)) : "null");
    std::fflush(stdout);
  }
  return 0;
}

// ---- gemv: the fp16 GEMV kernels alone, per shape ----------------------------------------------
using engine::cuda::GemvArgs;
using engine::cuda::GemvOut;

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) eco::fail("bench gemv: {}: {}", what, cudaGetErrorString(e));
}

// Mean device time of one launch of `a`: a CUDA graph of one launch per weight copy (together
// far beyond the L2, so each launch streams its weights from DRAM as in a decode step), replayed.
double time_gemv(GemvArgs a, const char* w, size_t bytes, int copies, cudaStream_t s) {
  cudaGraph_t graph = nullptr;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
  try {
    for (int c = 0; c < copies; ++c) {
      a.w = w + size_t(c) * bytes;
      engine::cuda::launch_gemv(engine::cuda::DevType::F16, a, s, "bench gemv");
    }
  } catch (...) {
    (void)cudaStreamEndCapture(s, &graph);
    if (graph) (void)cudaGraphDestroy(graph);
    throw;
  }
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  cudaGraphExec_t exec = nullptr;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  (void)cudaGraphDestroy(graph);
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  cuda_ok(cudaEventCreate(&e0), "event");
  cuda_ok(cudaEventCreate(&e1), "event");
  for (int i = 0; i < 2; ++i) cuda_ok(cudaGraphLaunch(exec, s), "warm-up");
  const int reps = std::max(3, 96 / copies);
  cuda_ok(cudaEventRecord(e0, s), "event");
  for (int i = 0; i < reps; ++i) cuda_ok(cudaGraphLaunch(exec, s), "replay");
  cuda_ok(cudaEventRecord(e1, s), "event");
  cuda_ok(cudaEventSynchronize(e1), "timing");
  float ms = 0;
  cuda_ok(cudaEventElapsedTime(&ms, e0, e1), "timing");
  (void)cudaEventDestroy(e0);
  (void)cudaEventDestroy(e1);
  (void)cudaGraphExecDestroy(exec);
  return double(ms) * 1e-3 / (double(reps) * copies);
}

struct GemvShape {
  const char* name;
  int n, k;
  GemvOut out;
  bool norm;  // input through the fused RMSNorm, as the engine feeds it
};

int run_gemv(const std::vector<int>& batches) {
  namespace ec = engine::cuda;
  const GemvShape shapes[] = {{"q|k|v", 6144, 4096, GemvOut::StoreT, true},
                              {"o_proj", 4096, 4096, GemvOut::AddResidual, false},
                              {"gate|up", 28672, 4096, GemvOut::SwiGLU, true},
                              {"down_proj", 4096, 14336, GemvOut::AddResidual, false}};
  const int kmax = 14336, nmax = 28672, mmax = ec::gemv_max_batch();
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  const auto T = ec::DevType::F16;
  ec::DeviceBuffer x(size_t(mmax) * kmax * 2, "x"), resid(size_t(mmax) * kmax * 4, "resid");
  ec::DeviceBuffer gamma(size_t(kmax) * 2, "gamma"), sumsq(size_t(mmax) * 4, "sumsq");
  ec::DeviceBuffer y(size_t(mmax) * nmax * 4, "y"), sumsq_out(size_t(mmax) * 4, "sumsq out");
  ec::launch_fill(T, x.get(), int64_t(mmax) * kmax, 0.02f, s);
  ec::launch_fill_f32(resid.as<float>(), int64_t(mmax) * kmax, 0.5f, s);
  ec::launch_fill(T, gamma.get(), kmax, 1.0f, s);
  ec::launch_fill_f32(y.as<float>(), int64_t(mmax) * nmax, 0.0f, s);
  fmt::print(stderr, "fp16 GEMV, weights streamed from DRAM\n");
  for (const GemvShape& sh : shapes) {
    const size_t bytes = size_t(sh.n) * sh.k * 2;
    const int copies = std::max<int>(2, int((size_t(768) << 20) / bytes + 1));
    ec::DeviceBuffer w(bytes * size_t(copies), fmt::format("{} weights x {}", sh.name, copies));
    ec::launch_fill(T, w.get(), int64_t(bytes / 2) * copies, 0.01f, s);
    ec::launch_fill_f32(sumsq.as<float>(), mmax, 0.25f * float(sh.k), s);
    for (int m : batches) {
      if (m < 1 || m > mmax) eco::fail("bench gemv: batch {} outside 1..{}", m, mmax);
      GemvArgs a;
      a.n = sh.n;
      a.k = sh.k;
      a.m = m;
      a.in.ldx = sh.k;
      if (sh.norm) {
        a.in.xf = resid.as<float>();
        a.in.rms_gamma = gamma.get();
        a.in.sumsq_in = sumsq.as<float>();
      } else {
        a.in.x = x.get();
      }
      a.out = {sh.out, y.get(), sh.out == GemvOut::SwiGLU ? sh.n / 2 : sh.n,
               sh.out == GemvOut::AddResidual ? sumsq_out.as<float>() : nullptr};
      const double t = time_gemv(a, w.as<char>(), bytes, copies, s);
      const double gbs = double(bytes) / t / 1e9;
      fmt::print(
          "RESULT {{\"kind\":\"gemv\",\"shape\":\"{}\",\"n\":{},\"k\":{},\"batch\":{},"
          "\"us\":{:.2f},\"gb_s\":{:.1f}}}\n",
          sh.name, sh.n, sh.k, m, t * 1e6, gbs);
      fmt::print(stderr, "{:>10} batch {:>2}: {:7.1f} us {:6.0f} GB/s\n", sh.name, m, t * 1e6, gbs);
      std::fflush(stdout);
    }
  }
  cuda_ok(cudaStreamSynchronize(s), "bench gemv");
  (void)cudaStreamDestroy(s);
  return 0;
}

int run_prefill(const std::string& dir, int tokens) {
  const auto w = model::load_model(dir);
  engine::EngineOptions o;
  o.device = engine::DeviceKind::Cuda;
  o.format = quant::parse_format("fp16");
  o.max_batch = 1;
  o.max_context = tokens + 8;
  auto e = engine::create_engine(w, o);
  const auto p = prompts(1, tokens, w.config.vocab_size, 77);
  for (int i = 0; i < 3; ++i) e->prefill(p);
  std::vector<double> times;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = Clock::now();
    e->prefill(p);
    e->synchronize();
    times.push_back(since(t0));
  }
  const auto& c = w.config;
  const double lin = double(c.num_layers) * (double(c.hidden_size) * (c.q_dim() + 2 * c.kv_dim()) +
                                             double(c.q_dim()) * c.hidden_size +
                                             3.0 * c.hidden_size * c.intermediate_size);
  const double matmul_flops = 2.0 * tokens * lin + 2.0 * double(c.vocab_size) * c.hidden_size;
  // Causal attention: QK^T and PV over tokens*(tokens+1)/2 pairs per head.
  const double attn_flops =
      4.0 * c.num_layers * c.num_heads * double(c.head_dim) * tokens * (tokens + 1) / 2.0;
  const double t = median(times);
  fmt::print(
      "RESULT {{\"kind\":\"prefill\",\"tokens\":{},\"seconds\":{:.6f},\"tok_s\":{:.1f},"
      "\"matmul_tflops\":{:.2f},\"total_tflops\":{:.2f}}}\n",
      tokens, t, tokens / t, matmul_flops / t / 1e12, (matmul_flops + attn_flops) / t / 1e12);
  return 0;
}

int run_greedy(const std::string& dir, const std::string& out, int n) {
  const auto w = model::load_model(dir);
  engine::EngineOptions o;
  o.device = engine::DeviceKind::Cuda;
  o.format = quant::parse_format("fp16");
  o.max_batch = 1;
  o.max_context = 64 + n;
  auto e = engine::create_engine(w, o);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 16; ++i) prompt.push_back(int32_t((i * 7919 + 17) % w.config.vocab_size));
  e->prefill({prompt});
  const auto logits = e->logits();
  const auto steps = e->decode_greedy(n);
  std::vector<int> toks;
  for (const auto& s : steps) toks.push_back(s[0]);
  std::ofstream f(out);
  f << fmt::format("{{\"prompt\":[{}],\"tokens\":[{}],\"logits\":[{}]}}\n", fmt::join(prompt, ","),
                   fmt::join(toks, ","), fmt::join(logits, ","));
  fmt::print("RESULT {{\"kind\":\"greedy\",\"tokens\":[{}]}}\n", fmt::join(toks, ","));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 3 && a[0] == "synth") {
      model::SynthOptions so;
      so.shape = a[1];
      const auto t0 = Clock::now();
      model::write_synthetic_model(so, a[2]);
      fmt::print(stderr, "synthetic {} written to {} in {:.1f} s\n", a[1], a[2], since(t0));
      return 0;
    }
    if (a.size() == 5 && a[0] == "decode")
      return run_decode(a[1], parse_list(a[2]), std::stoi(a[3]), std::stoi(a[4]));
    if (a.size() == 2 && a[0] == "gemv") return run_gemv(parse_list(a[1]));
    if (a.size() == 3 && a[0] == "prefill") return run_prefill(a[1], std::stoi(a[2]));
    if (a.size() == 4 && a[0] == "greedy") return run_greedy(a[1], a[2], std::stoi(a[3]));
    std::fputs(
        "usage: bench_engine_cuda synth SHAPE DIR | decode DIR B1,B2 PROMPT NEW | "
        "gemv B1,B2 | prefill DIR TOKENS | greedy DIR OUT N\n",
        stderr);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine_cuda: %s\n", e.what());
    return 1;
  }
}
#endif
