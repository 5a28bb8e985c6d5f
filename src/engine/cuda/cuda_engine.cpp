// The CUDA engine: weights and KV cache on the device, prefill through cuBLAS (or the GEMV
// kernels when a prompt batch is tiny), decode steps captured once per batch size in a CUDA
// graph that reads positions and tokens from device memory, so one graph replays every step
// and decode_greedy runs its whole token loop without a host round trip.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/engine_impl.h"
#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {

namespace {
constexpr int kSumsqLd = 16;  // rows of the fused-RMSNorm accumulators (>= gemv_max_batch())

std::string mib(size_t b) {
  return fmt::format("{:.1f} MiB", double(b) / 1048576.0);
}

void check_paths(const CudaPathOptions& p) {
  if (p.nf4_fused_max_batch < 0 || p.nf4_fused_max_batch > nf4_fused_max_batch_limit())
    fail("CUDA path options: nf4_fused_max_batch {} is outside 0..{}", p.nf4_fused_max_batch,
         nf4_fused_max_batch_limit());
}
}  // namespace

CudaEngine::CudaEngine(const model::ModelWeights& weights, const EngineOptions& opts)
    : cfg_(weights.config), opts_(opts) {
  const auto& c = cfg_;
  if (opts_.max_batch < 1) fail("batch size must be at least 1 (got {})", opts_.max_batch);
  if (opts_.max_context <= 0) opts_.max_context = c.max_position_embeddings;
  check_paths(opts_.cuda);
  if (c.head_dim % 8 != 0 || c.head_dim > 256)
    fail(
        "model {}: head_dim {} is not supported by the CUDA engine (needs a multiple of 8, "
        "at most 256); use --device cpu",
        weights.dir.string(), c.head_dim);
  if (c.num_heads % c.num_kv_heads != 0 || c.num_heads / c.num_kv_heads > 8)
    fail(
        "model {}: {} heads over {} kv heads is not supported by the CUDA engine (group of at "
        "most 8); use --device cpu",
        weights.dir.string(), c.num_heads, c.num_kv_heads);
  if (c.hidden_size % 8 != 0 || c.intermediate_size % 8 != 0)
    fail(
        "model {}: hidden_size {} and intermediate_size {} must be multiples of 8 for the CUDA "
        "engine; use --device cpu",
        weights.dir.string(), c.hidden_size, c.intermediate_size);
  const DevType t = resolve_devtype(opts_.format, weights.embed.dtype);
  const quant::WeightFormat wf =
      t == DevType::F16 ? quant::WeightFormat::FP16 : quant::WeightFormat::BF16;

  int ndev = device_count();
  if (opts_.device_index < 0 || opts_.device_index >= ndev)
    fail("--device-index {}: {} CUDA device(s) visible", opts_.device_index, ndev);
  // Block in the driver instead of spinning while the GPU works: the host's CPU time (and
  // energy) during a decode run is then what the engine really needs. Fails harmlessly when
  // this process already has an active context.
  (void)cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
  (void)cudaGetLastError();
  set_device();
  cudaDeviceProp prop{};
  ECO_CUDA_CHECK(cudaGetDeviceProperties(&prop, opts_.device_index), "reading device properties");
  sm_count_ = prop.multiProcessorCount;
  device_name_ = fmt::format("{} (sm_{}{}, {} SMs)", prop.name, prop.major, prop.minor, sm_count_);
  ECO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  blas_ = std::make_unique<Blas>();
  blas_->set_stream(stream_);
  blas_->paths = opts_.cuda;

  // Everything is sized before anything big is allocated, and checked against free memory.
  const size_t B = size_t(opts_.max_batch), ctx = size_t(opts_.max_context);
  layer_cache_elems_ = B * size_t(c.num_kv_heads) * ctx * size_t(c.head_dim);
  const size_t kv_bytes = 2 * layer_cache_elems_ * size_t(c.num_layers) * 2;
  const size_t w_bytes = device_weight_bytes(weights);
  const int rows0 = std::max(opts_.max_batch, 16);
  const size_t act_bytes =
      size_t(rows0) * (size_t(c.hidden_size) * 6 + size_t(c.q_dim() + 2 * c.kv_dim()) * 2 +
                       size_t(c.q_dim()) * 4 + size_t(c.intermediate_size) * 10) +
      B * size_t(c.vocab_size) * 4 +
      attention_partial_floats(int(B), c.num_heads, c.head_dim, 32) * 4;
  const size_t reserve = (size_t(64) << 20) + (size_t(256) << 20);  // workspace, staging, context
  size_t free_b = 0, total_b = 0;
  ECO_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b), "reading free GPU memory");
  const size_t need = kv_bytes + w_bytes + act_bytes + reserve;
  if (need > free_b)
    fail(
        "model {} with batch {} and context {} needs about {} on the GPU (weights {}, KV cache "
        "{}, activations {}) but only {} of {} is free; lower --batch or --max-context",
        weights.dir.string(), B, ctx, mib(need), mib(w_bytes), mib(kv_bytes), mib(act_bytes),
        mib(free_b), mib(total_b));

  upload_model(weights, t, wf, model_, stream_, opts_.format);
  k_cache_.allocate(kv_bytes / 2, fmt::format("K cache ({} layers x batch {} x context {})",
                                              c.num_layers, B, ctx));
  v_cache_.allocate(kv_bytes / 2, fmt::format("V cache ({} layers x batch {} x context {})",
                                              c.num_layers, B, ctx));

  upload_rope_tables();

  sumsq_.allocate(size_t(2 * c.num_layers + 1) * kSumsqLd * 4, "norm accumulators");
  const int smax = decode_splits(1);
  attn_partial_.allocate(std::max(attention_partial_floats(int(B), c.num_heads, c.head_dim, smax),
                                  attention_partial_floats(1, c.num_heads, c.head_dim, smax)) *
                             4,
                         "attention partials");
  attn_counters_.allocate(B * size_t(c.num_kv_heads) * 4, "attention counters");
  ECO_CUDA_CHECK(cudaMemsetAsync(attn_counters_.get(), 0, attn_counters_.bytes(), stream_),
                 "zeroing attention counters");
  d_pos_.allocate(B * 4, "positions");
  d_iota_.allocate(B * 4, "sequence ids");
  d_tokens_.allocate(B * 4, "tokens");
  d_hist_base_.allocate(B * 4, "history base");
  d_last_rows_.allocate(B * 4, "last rows");
  std::vector<int> iota(B);
  std::iota(iota.begin(), iota.end(), 0);
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(d_iota_.get(), iota.data(), B * 4, cudaMemcpyHostToDevice, stream_),
      "uploading sequence ids");
  ensure_rows(rows0);
  ensure_logit_rows(int(B));
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "engine setup");
}

CudaEngine::~CudaEngine() {
  drop_graphs();
  blas_.reset();
  if (stream_) (void)cudaStreamDestroy(stream_);
}

void CudaEngine::set_device() const {
  ECO_CUDA_CHECK(cudaSetDevice(opts_.device_index),
                 fmt::format("selecting CUDA device {}", opts_.device_index));
}

void CudaEngine::drop_graphs() {
  for (auto& [b, g] : graphs_) (void)cudaGraphExecDestroy(g);
  graphs_.clear();
}

std::string CudaEngine::describe() const {
  // The matmul paths come from choose_matmul_path(), the function run_linear() follows. They
  // depend on k (nf4's fused GEMV needs k % 64 == 0), so matrices whose paths differ are listed
  // apart: "q|k|v, gate|up 1-64 nf4-fused-mma-gemv, ...; down ...".
  const DeviceLayer& l0 = model_.layers.front();
  const std::pair<const char*, const LinearWeight*> linears[] = {
      {"q|k|v", &l0.qkv}, {"o", &l0.o}, {"gate|up", &l0.gate_up}, {"down", &l0.down}};
  const quant::FormatSpec lin_fmt =
      l0.qkv.qweight ? l0.qkv.qweight->spec : quant::FormatSpec{l0.qkv.format};
  std::vector<std::pair<std::string, std::string>> groups;  // (paths, matrix names)
  for (const auto& [name, w] : linears) {
    const std::string paths = describe_matmul_paths(lin_fmt, opts_.cuda, w->k);
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == paths; });
    if (it == groups.end())
      groups.emplace_back(paths, name);
    else
      it->second += std::string(", ") + name;
  }
  std::string s = fmt::format("cuda {} {}; matmul paths by rows per step:", device_name_,
                              devtype_name(model_.type));
  for (size_t i = 0; i < groups.size(); ++i)
    s += fmt::format("{} {} {}", i ? ";" : "",
                     groups.size() == 1 ? "linear layers" : groups[i].second, groups[i].first);
  if (l0.qkv.qweight) s += " (" + describe_quant_format(lin_fmt) + ")";
  const quant::FormatSpec head_fmt{model_.lm_head.format};
  s += fmt::format("; lm_head {}", describe_matmul_paths(head_fmt, opts_.cuda, model_.lm_head.k));
  s += "; fused RMSNorm/SwiGLU/residual epilogues on the GEMV paths; flash-decoding attention";
  if (cfg_.sliding_window > 0) s += fmt::format(" (sliding window {})", cfg_.sliding_window);
  s += decode_needs_eager(opts_.format, opts_.cuda) ? "; decode steps enqueued eagerly"
                                                    : "; decode as CUDA graphs per batch size";
  return s;
}

void CudaEngine::set_paths(const CudaPathOptions& paths) {
  check_paths(paths);
  drop_graphs();  // the captured steps ran the old choices
  opts_.cuda = paths;
  blas_->paths = paths;
}

QuantStats CudaEngine::take_quant_stats() {
  return std::exchange(blas_->qscratch.stats, {});
}

void CudaEngine::ensure_rows(int rows) {
  if (rows <= act_.rows) return;
  const auto& c = cfg_;
  const size_t r = size_t(rows), h = size_t(c.hidden_size), I = size_t(c.intermediate_size);
  const size_t need = r * (h * 6 + size_t(c.q_dim() + 2 * c.kv_dim()) * 2 + size_t(c.q_dim()) * 4 +
                           I * (rows <= kSwigluF32Rows ? 10 : 6) + 12);
  size_t free_b = 0, total_b = 0;
  ECO_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b), "reading free GPU memory");
  const size_t held = act_.resid.bytes() + act_.xn.bytes() + act_.qkv.bytes() + act_.q.bytes() +
                      act_.attn.bytes() + act_.gu.bytes() + act_.act.bytes();
  if (need > free_b + held)
    fail(
        "prefill of {} tokens needs {} of activations but only {} of GPU memory is free; "
        "use fewer or shorter prompts",
        rows, mib(need), mib(free_b + held));
  drop_graphs();  // captured graphs hold the old pointers
  reserve_quant_scratch(
      *blas_, opts_.format, rows, std::max({c.hidden_size, c.q_dim(), c.intermediate_size}),
      std::max({c.q_dim() + 2 * c.kv_dim(), c.hidden_size, 2 * c.intermediate_size}));
  act_ = Activations{};
  const std::string w = fmt::format("activations for {} tokens", rows);
  act_.resid.allocate(r * h * 4, w);
  act_.xn.allocate(r * h * 2, w);
  act_.qkv.allocate(r * size_t(c.q_dim() + 2 * c.kv_dim()) * 2, w);
  act_.q.allocate(r * size_t(c.q_dim()) * 2, w);
  act_.attn.allocate(r * size_t(c.q_dim()) * 2, w);
  // fp32 gate/up for GEMMs of up to kSwigluF32Rows rows, T beyond (linear.cpp).
  act_.gu.allocate(std::max(r * 2 * I * 2, std::min<size_t>(r, kSwigluF32Rows) * 2 * I * 4), w);
  act_.act.allocate(r * I * 2, w);
  act_.tok.allocate(r * 4, w);
  act_.seq.allocate(r * 4, w);
  act_.pos.allocate(r * 4, w);
  act_.rows = rows;
}

void CudaEngine::ensure_logit_rows(int rows) {
  if (rows <= logit_rows_cap_) return;
  drop_graphs();
  logits_.allocate(size_t(rows) * size_t(cfg_.vocab_size) * 4,
                   fmt::format("logits for {} rows", rows));
  logit_rows_cap_ = rows;
}

void CudaEngine::ensure_hist(int steps) {
  if (steps <= hist_cap_) return;
  drop_graphs();
  hist_cap_ = std::max(steps, 256);
  d_hist_.allocate(size_t(hist_cap_) * size_t(opts_.max_batch) * 4, "token history");
}

int CudaEngine::decode_splits(int batch) const {
  // Enough blocks for two waves over the SMs, at least 16 keys per split.
  const int pairs = batch * cfg_.num_kv_heads;
  int s = (2 * std::max(sm_count_, 1) + pairs - 1) / pairs;
  s = std::min({s, 32, std::max(1, opts_.max_context / 16)});
  return std::max(s, 1);
}

void CudaEngine::forward_layers(int m, const int* tok, const int* seq, const int* pos, int splits,
                                bool fused_norm, const std::string& phase) {
  const auto& c = cfg_;
  const DevType t = model_.type;
  const int L = c.num_layers, H = c.hidden_size;
  float* resid = act_.resid.as<float>();
  float* sumsq = sumsq_.as<float>();
  launch_embedding(t, model_.embed.get(), c.vocab_size, H, tok, m, resid,
                   fused_norm ? sumsq : nullptr, 2 * L + 1, kSumsqLd, stream_,
                   phase + ": embedding");
  if (rope_schedule_.count > 1)
    launch_rope_select(pos, m, rope_schedule_.threshold, rope_schedule_.count,
                       rope_index_.as<int>(), stream_, phase + ": rope table");
  for (int l = 0; l < L; ++l) {
    const auto& d = model_.layers[size_t(l)];
    const std::string ln = fmt::format("{}: layer {}", phase, l);
    LinearIn in;
    if (fused_norm) {
      in.resid = resid;
      in.rms_gamma = d.attn_norm.get();
      in.sumsq = sumsq + size_t(2 * l) * kSumsqLd;
      in.eps = c.rms_norm_eps;
    } else {
      launch_rmsnorm(t, resid, H, nullptr, m, H, d.attn_norm.get(), c.rms_norm_eps, act_.xn.get(),
                     stream_, ln + " input norm");
      in.x = act_.xn.get();
    }
    run_linear(d.qkv, m, in, {GemvOut::StoreT, act_.qkv.get(), d.qkv.n}, *blas_, stream_,
               ln + " qkv");

    void* k_cache = k_cache_.as<char>() + size_t(l) * layer_cache_elems_ * 2;
    void* v_cache = v_cache_.as<char>() + size_t(l) * layer_cache_elems_ * 2;
    rotate_into_cache(d, m, seq, pos, k_cache, v_cache, ln);

    AttnArgs aa;
    aa.q = act_.q.get();
    aa.k_cache = k_cache;
    aa.v_cache = v_cache;
    aa.tok_seq = seq;
    aa.tok_pos = pos;
    aa.out = act_.attn.get();
    aa.m = m;
    aa.nh = c.num_heads;
    aa.nkv = c.num_kv_heads;
    aa.d = c.head_dim;
    aa.ctx = opts_.max_context;
    aa.splits = splits;
    aa.partial = attn_partial_.as<float>();
    aa.counters = attn_counters_.as<int>();
    aa.window = c.sliding_window;
    launch_attention(t, aa, stream_, ln + " attention");

    if (d.o_bias)  // before o_proj accumulates into the residual (bias.cu says why)
      launch_add_bias_rows(t, resid, H, d.o_bias.get(), m, H, stream_, ln + " o_proj bias");
    LinearIn ain;
    ain.x = act_.attn.get();
    run_linear(d.o, m, ain,
               {GemvOut::AddResidual, resid, H,
                fused_norm ? sumsq + size_t(2 * l + 1) * kSumsqLd : nullptr},
               *blas_, stream_, ln + " o_proj");

    LinearIn min;
    if (fused_norm) {
      min.resid = resid;
      min.rms_gamma = d.mlp_norm.get();
      min.sumsq = sumsq + size_t(2 * l + 1) * kSumsqLd;
      min.eps = c.rms_norm_eps;
    } else {
      launch_rmsnorm(t, resid, H, nullptr, m, H, d.mlp_norm.get(), c.rms_norm_eps, act_.xn.get(),
                     stream_, ln + " post-attention norm");
      min.x = act_.xn.get();
    }
    LinearOut guo{GemvOut::SwiGLU, act_.act.get(), c.intermediate_size};
    guo.gemm_scratch = act_.gu.get();
    run_linear(d.gate_up, m, min, guo, *blas_, stream_, ln + " gate_up");
    LinearIn din;
    din.x = act_.act.get();
    run_linear(d.down, m, din,
               {GemvOut::AddResidual, resid, H,
                fused_norm ? sumsq + size_t(2 * l + 2) * kSumsqLd : nullptr},
               *blas_, stream_, ln + " down_proj");
  }
}

void CudaEngine::decode_step(int batch) {
  const auto& c = cfg_;
  const bool fused_norm = fused_norm_input(batch);
  forward_layers(batch, d_tokens_.as<int>(), d_iota_.as<int>(), d_pos_.as<int>(),
                 decode_splits(batch), fused_norm, "decode");
  LinearIn in;
  if (fused_norm) {
    in.resid = act_.resid.as<float>();
    in.rms_gamma = model_.final_norm.get();
    in.sumsq = sumsq_.as<float>() + size_t(2 * c.num_layers) * kSumsqLd;
    in.eps = c.rms_norm_eps;
  } else {
    launch_rmsnorm(model_.type, act_.resid.as<float>(), c.hidden_size, nullptr, batch,
                   c.hidden_size, model_.final_norm.get(), c.rms_norm_eps, act_.xn.get(), stream_,
                   "decode: final norm");
    in.x = act_.xn.get();
  }
  run_linear(model_.lm_head, batch, in, {GemvOut::StoreF32, logits_.get(), c.vocab_size}, *blas_,
             stream_, "decode: lm_head");
  launch_argmax(logits_.as<float>(), batch, c.vocab_size, d_tokens_.as<int>(), d_hist_.as<int>(),
                hist_cap_, d_hist_base_.as<int>(), d_pos_.as<int>(), true, stream_,
                "decode: argmax");
}

void CudaEngine::run_decode_graph(int batch) {
  if (decode_needs_eager(opts_.format, opts_.cuda)) {
    decode_step(batch);  // e.g. reference-bnb synchronises with the host in every layer
    return;
  }
  auto it = graphs_.find(batch);
  if (it == graphs_.end()) {
    cudaGraph_t graph = nullptr;
    ECO_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                   "decode: beginning graph capture");
    try {
      decode_step(batch);
    } catch (...) {
      (void)cudaStreamEndCapture(stream_, &graph);
      if (graph) (void)cudaGraphDestroy(graph);
      throw;
    }
    ECO_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph),
                   fmt::format("decode: capturing the graph for batch {}", batch));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    ECO_CUDA_CHECK(e, fmt::format("decode: instantiating the graph for batch {}", batch));
    it = graphs_.emplace(batch, exec).first;
  }
  ECO_CUDA_CHECK(cudaGraphLaunch(it->second, stream_),
                 fmt::format("decode: launching the graph (batch {})", batch));
}

void CudaEngine::prefill(const std::vector<std::vector<int32_t>>& prompts, bool all_logits) {
  set_device();
  const auto& c = cfg_;
  const int B = int(prompts.size());
  if (B < 1 || B > opts_.max_batch)
    fail("prefill: {} prompts for an engine built for batch {} (set --batch)", B, opts_.max_batch);
  std::vector<int> tok, seq, pos, last(static_cast<size_t>(B));
  for (int b = 0; b < B; ++b) {
    const auto& p = prompts[size_t(b)];
    if (p.empty()) fail("prefill: prompt {} is empty", b);
    if (int(p.size()) > opts_.max_context)
      fail("prefill: prompt {} has {} tokens, more than the context of {} (raise --max-context)", b,
           p.size(), opts_.max_context);
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] < 0 || p[j] >= c.vocab_size)
        fail("prefill: prompt {} token {} has id {}, outside the vocabulary (0..{})", b, j, p[j],
             c.vocab_size - 1);
      tok.push_back(p[j]);
      seq.push_back(b);
      pos.push_back(int(j));
    }
    last[size_t(b)] = int(tok.size()) - 1;
  }
  const int M = int(tok.size());
  ensure_rows(M);
  const int lrows = all_logits ? M : B;
  ensure_logit_rows(lrows);
  ensure_hist(1);
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(act_.tok.get(), tok.data(), size_t(M) * 4, cudaMemcpyHostToDevice, stream_),
      "prefill: uploading tokens");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(act_.seq.get(), seq.data(), size_t(M) * 4, cudaMemcpyHostToDevice, stream_),
      "prefill: uploading sequence ids");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(act_.pos.get(), pos.data(), size_t(M) * 4, cudaMemcpyHostToDevice, stream_),
      "prefill: uploading positions");
  ECO_CUDA_CHECK(cudaMemcpyAsync(d_last_rows_.get(), last.data(), size_t(B) * 4,
                                 cudaMemcpyHostToDevice, stream_),
                 "prefill: uploading last rows");
  const bool fused_norm = fused_norm_input(M);
  forward_layers(M, act_.tok.as<int>(), act_.seq.as<int>(), act_.pos.as<int>(), 1, fused_norm,
                 "prefill");
  launch_rmsnorm(model_.type, act_.resid.as<float>(), c.hidden_size,
                 all_logits ? nullptr : d_last_rows_.as<int>(), lrows, c.hidden_size,
                 model_.final_norm.get(), c.rms_norm_eps, act_.xn.get(), stream_,
                 "prefill: final norm");
  LinearIn in;
  in.x = act_.xn.get();
  run_linear(model_.lm_head, lrows, in, {GemvOut::StoreF32, logits_.get(), c.vocab_size}, *blas_,
             stream_, "prefill: lm_head");
  // The greedy choice for each sequence's last position (from the last rows when all_logits).
  if (all_logits) {
    for (int b = 0; b < B; ++b)
      launch_argmax(logits_.as<float>() + size_t(last[size_t(b)]) * c.vocab_size, 1, c.vocab_size,
                    d_tokens_.as<int>() + b, nullptr, 0, nullptr, nullptr, false, stream_,
                    "prefill: argmax");
  } else {
    launch_argmax(logits_.as<float>(), B, c.vocab_size, d_tokens_.as<int>(), nullptr, 0, nullptr,
                  nullptr, false, stream_, "prefill: argmax");
  }
  lengths_.assign(size_t(B), 0);
  for (int b = 0; b < B; ++b) lengths_[size_t(b)] = int(prompts[size_t(b)].size());
  ECO_CUDA_CHECK(cudaMemcpyAsync(d_pos_.get(), lengths_.data(), size_t(B) * 4,
                                 cudaMemcpyHostToDevice, stream_),
                 "prefill: uploading lengths");
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_),
                 fmt::format("prefill ({} sequences, {} tokens)", B, M));
  batch_ = B;
  saved_lengths_.clear();  // a saved position belongs to the batch it was saved in
  logit_rows_ = lrows;
}

void CudaEngine::check_room(int steps) const {
  for (int b = 0; b < batch_; ++b)
    if (lengths_[size_t(b)] + steps > opts_.max_context)
      fail(
          "decode: sequence {} would grow to {} tokens, beyond the context of {} (raise "
          "--max-context)",
          b, lengths_[size_t(b)] + steps, opts_.max_context);
}

void CudaEngine::decode(const std::vector<int32_t>& tokens) {
  set_device();
  if (batch_ == 0) fail("decode: call prefill first");
  if (int(tokens.size()) != batch_)
    fail("decode: {} tokens for a batch of {}", tokens.size(), batch_);
  for (size_t b = 0; b < tokens.size(); ++b)
    if (tokens[b] < 0 || tokens[b] >= cfg_.vocab_size)
      fail("decode: token {} for sequence {} is outside the vocabulary (0..{})", tokens[b], b,
           cfg_.vocab_size - 1);
  check_room(1);
  ensure_hist(1);
  ECO_CUDA_CHECK(cudaMemcpyAsync(d_tokens_.get(), tokens.data(), tokens.size() * 4,
                                 cudaMemcpyHostToDevice, stream_),
                 "decode: uploading tokens");
  run_decode_graph(batch_);
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), fmt::format("decode step (batch {})", batch_));
  for (auto& len : lengths_) ++len;
  logit_rows_ = batch_;
}

std::vector<int32_t> CudaEngine::argmax() {
  set_device();
  if (batch_ == 0) fail("argmax: call prefill first");
  std::vector<int32_t> out(static_cast<size_t>(batch_));
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), d_tokens_.get(), out.size() * 4, cudaMemcpyDeviceToHost, stream_),
      "argmax: copying tokens");
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "argmax");
  return out;
}

std::vector<std::vector<int32_t>> CudaEngine::decode_greedy(int steps) {
  set_device();
  if (batch_ == 0) fail("decode_greedy: call prefill first");
  if (steps <= 0) return {};
  check_room(steps - 1);
  ensure_hist(steps);
  const size_t B = size_t(batch_);
  // Step 0 is the current argmax; the history is indexed by position - base + 1.
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(d_hist_.get(), d_tokens_.get(), B * 4, cudaMemcpyDeviceToDevice, stream_),
      "decode_greedy: first token");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(d_hist_base_.get(), d_pos_.get(), B * 4, cudaMemcpyDeviceToDevice, stream_),
      "decode_greedy: history base");
  // The captured history pointer is fixed, but the batch may be smaller than max_batch: the
  // graph indexes hist[s * batch + i], so the host reads [steps][batch] back.
  for (int s = 1; s < steps; ++s) run_decode_graph(batch_);
  std::vector<int32_t> flat(static_cast<size_t>(steps) * B);
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(flat.data(), d_hist_.get(), flat.size() * 4, cudaMemcpyDeviceToHost, stream_),
      "decode_greedy: copying tokens");
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_),
                 fmt::format("decode_greedy ({} steps, batch {})", steps, B));
  for (auto& len : lengths_) len += steps - 1;
  if (steps > 1) logit_rows_ = batch_;
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(steps));
  for (int s = 0; s < steps; ++s)
    out[size_t(s)].assign(flat.begin() + ptrdiff_t(size_t(s) * B),
                          flat.begin() + ptrdiff_t(size_t(s + 1) * B));
  return out;
}

std::vector<float> CudaEngine::logits() {
  set_device();
  std::vector<float> out(static_cast<size_t>(logit_rows_) * static_cast<size_t>(cfg_.vocab_size));
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), logits_.get(), out.size() * 4, cudaMemcpyDeviceToHost, stream_),
      "logits: copying to the host");
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "logits");
  return out;
}

void CudaEngine::synchronize() {
  set_device();
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "synchronize");
}

void CudaEngine::save_position() {
  set_device();
  if (batch_ == 0) fail("save_position: call prefill first");
  const size_t B = size_t(batch_);
  const size_t logit_bytes = size_t(logit_rows_) * size_t(cfg_.vocab_size) * 4;
  if (saved_tokens_.bytes() < B * 4) saved_tokens_.allocate(B * 4, "saved tokens");
  if (saved_pos_.bytes() < B * 4) saved_pos_.allocate(B * 4, "saved positions");
  if (saved_logits_.bytes() < logit_bytes) saved_logits_.allocate(logit_bytes, "saved logits");
  ECO_CUDA_CHECK(cudaMemcpyAsync(saved_tokens_.get(), d_tokens_.get(), B * 4,
                                 cudaMemcpyDeviceToDevice, stream_),
                 "save_position: tokens");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(saved_pos_.get(), d_pos_.get(), B * 4, cudaMemcpyDeviceToDevice, stream_),
      "save_position: positions");
  ECO_CUDA_CHECK(cudaMemcpyAsync(saved_logits_.get(), logits_.get(), logit_bytes,
                                 cudaMemcpyDeviceToDevice, stream_),
                 "save_position: logits");
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "save_position");
  saved_lengths_ = lengths_;
  saved_logit_rows_ = logit_rows_;
}

// Device-to-device copies only, queued on the stream: cheap enough to sit inside a decode window.
void CudaEngine::restore_position() {
  set_device();
  if (saved_lengths_.empty() || saved_lengths_.size() != size_t(batch_))
    fail("restore_position: no position saved for the current batch (call save_position)");
  const size_t B = size_t(batch_);
  ECO_CUDA_CHECK(cudaMemcpyAsync(d_tokens_.get(), saved_tokens_.get(), B * 4,
                                 cudaMemcpyDeviceToDevice, stream_),
                 "restore_position: tokens");
  ECO_CUDA_CHECK(
      cudaMemcpyAsync(d_pos_.get(), saved_pos_.get(), B * 4, cudaMemcpyDeviceToDevice, stream_),
      "restore_position: positions");
  ECO_CUDA_CHECK(cudaMemcpyAsync(logits_.get(), saved_logits_.get(),
                                 size_t(saved_logit_rows_) * size_t(cfg_.vocab_size) * 4,
                                 cudaMemcpyDeviceToDevice, stream_),
                 "restore_position: logits");
  lengths_ = saved_lengths_;
  logit_rows_ = saved_logit_rows_;
}

int CudaEngine::sequence_length(int i) const {
  if (i < 0 || i >= batch_) fail("sequence_length: index {} outside the batch of {}", i, batch_);
  return lengths_[size_t(i)];
}

TrafficModel CudaEngine::traffic() const {
  TrafficModel t;
  for (const auto& l : model_.layers)
    t.weight_bytes += l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes() +
                      l.attn_norm.bytes() + l.mlp_norm.bytes() + l.qkv_bias.bytes() +
                      l.q_norm.bytes() + l.k_norm.bytes() + l.o_bias.bytes();
  t.weight_bytes += model_.lm_head.bytes() + model_.final_norm.bytes();
  t.kv_bytes_per_token = size_t(2) * cfg_.num_layers * size_t(cfg_.kv_dim()) * 2;
  t.kv_cache_bytes = k_cache_.bytes() + v_cache_.bytes();
  t.weights_resident_bytes = model_.resident_bytes;
  return t;
}

std::unique_ptr<Engine> create_cuda_engine(const model::ModelWeights& weights,
                                           const EngineOptions& opts) {
  return std::make_unique<CudaEngine>(weights, opts);
}

namespace {
CudaEngine& cuda_engine(Engine& engine, const char* what) {
  auto* e = dynamic_cast<CudaEngine*>(&engine);
  if (!e) fail("{}: not a CUDA engine", what);
  return *e;
}
}  // namespace

TrafficModel traffic_model(const Engine& engine) {
  const auto* e = dynamic_cast<const CudaEngine*>(&engine);
  if (!e) fail("traffic_model: not a CUDA engine");
  return e->traffic();
}

QuantStats take_quant_stats(Engine& engine) {
  return cuda_engine(engine, "take_quant_stats").take_quant_stats();
}

void set_cuda_paths(Engine& engine, const CudaPathOptions& paths) {
  cuda_engine(engine, "set_cuda_paths").set_paths(paths);
}

}  // namespace eco::engine::cuda
