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
#include "engine/cuda/launch_plan.h"
#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {

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

int CudaEngine::decode_splits(int batch) const {
  // Enough blocks for two waves over the SMs, at most one per round of keys of the longest
  // context; shorter contexts activate fewer (launch_plan.h).
  return choose_decode_splits(batch, cfg_.num_kv_heads, sm_count_, opts_.max_context,
                              cfg_.head_dim);
}

LinearIn CudaEngine::normed_input(const void* gamma, int slot, int m, bool fused_norm,
                                  const std::string& step) {
  const auto& c = cfg_;
  LinearIn in;
  if (fused_norm) {
    in.resid = act_.resid.as<float>();
    in.rms_gamma = gamma;
    in.sumsq = sumsq_.as<float>() + size_t(slot) * kSumsqLd;
    in.eps = c.rms_norm_eps;
  } else {
    launch_rmsnorm(model_.type, act_.resid.as<float>(), c.hidden_size, nullptr, m, c.hidden_size,
                   gamma, c.rms_norm_eps, act_.xn.get(), stream_, step);
    in.x = act_.xn.get();
  }
  return in;
}

void CudaEngine::forward_layers(int m, const int* tok, const int* seq, const int* pos, int splits,
                                bool fused_norm, const std::string& phase) {
  const auto& c = cfg_;
  const int L = c.num_layers, H = c.hidden_size;
  launch_embedding(model_.type, model_.embed.get(), c.vocab_size, H, tok, m, act_.resid.as<float>(),
                   fused_norm ? sumsq_.as<float>() : nullptr, 2 * L + 1, kSumsqLd, stream_,
                   phase + ": embedding");
  if (rope_schedule_.count > 1)
    launch_rope_select(pos, m, rope_schedule_.threshold, rope_schedule_.count,
                       rope_index_.as<int>(), stream_, phase + ": rope table");
  for (int l = 0; l < L; ++l) {
    const auto& d = model_.layers[size_t(l)];
    const std::string ln = fmt::format("{}: layer {}", phase, l);
    attention_block(d, l, m, seq, pos, splits, fused_norm, ln);
    mlp_block(d, l, m, fused_norm, ln);
  }
}

// Norm, q/k/v, RoPE into the cache, attention, o_proj into the residual. The fused norms'
// accumulator slots: 2 l for this block's input, 2 l + 1 for the MLP's (filled by o_proj).
void CudaEngine::attention_block(const DeviceLayer& d, int l, int m, const int* seq, const int* pos,
                                 int splits, bool fused_norm, const std::string& ln) {
  const auto& c = cfg_;
  const DevType t = model_.type;
  const int H = c.hidden_size;
  float* resid = act_.resid.as<float>();
  const LinearIn in = normed_input(d.attn_norm.get(), 2 * l, m, fused_norm, ln + " input norm");
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
              fused_norm ? sumsq_.as<float>() + size_t(2 * l + 1) * kSumsqLd : nullptr},
             *blas_, stream_, ln + " o_proj");
}

// Norm, gate/up with SwiGLU, down_proj into the residual (filling slot 2 l + 2: the next
// layer's input norm, or the final norm after the last layer).
void CudaEngine::mlp_block(const DeviceLayer& d, int l, int m, bool fused_norm,
                           const std::string& ln) {
  const auto& c = cfg_;
  const int H = c.hidden_size;
  const LinearIn min =
      normed_input(d.mlp_norm.get(), 2 * l + 1, m, fused_norm, ln + " post-attention norm");
  LinearOut guo{GemvOut::SwiGLU, act_.act.get(), c.intermediate_size};
  guo.gemm_scratch = act_.gu.get();
  run_linear(d.gate_up, m, min, guo, *blas_, stream_, ln + " gate_up");
  LinearIn din;
  din.x = act_.act.get();
  run_linear(d.down, m, din,
             {GemvOut::AddResidual, act_.resid.as<float>(), H,
              fused_norm ? sumsq_.as<float>() + size_t(2 * l + 2) * kSumsqLd : nullptr},
             *blas_, stream_, ln + " down_proj");
}

void CudaEngine::decode_step(int batch) {
  const auto& c = cfg_;
  const bool fused_norm = fused_norm_input(batch);
  forward_layers(batch, d_tokens_.as<int>(), d_iota_.as<int>(), d_pos_.as<int>(),
                 decode_splits(batch), fused_norm, "decode");
  const LinearIn in = normed_input(model_.final_norm.get(), 2 * c.num_layers, batch, fused_norm,
                                   "decode: final norm");
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
