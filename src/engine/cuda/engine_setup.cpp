// The CUDA engine's setup: the checks of what it supports, the device, memory sized and checked
// before anything big is allocated, and the buffers that grow with a step's rows.
#include <algorithm>
#include <numeric>
#include <utility>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/engine_impl.h"
#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {

namespace {

std::string mib(size_t b) {
  return fmt::format("{:.1f} MiB", double(b) / 1048576.0);
}

void check_paths(const CudaPathOptions& p) {
  if (p.nf4_fused_max_batch < 0 || p.nf4_fused_max_batch > nf4_fused_max_batch_limit())
    fail("CUDA path options: nf4_fused_max_batch {} is outside 0..{}", p.nf4_fused_max_batch,
         nf4_fused_max_batch_limit());
}

// Shapes the kernels handle; anything else runs on the CPU engine.
void check_supported(const model::ModelConfig& c, const std::string& dir) {
  if (c.head_dim % 8 != 0 || c.head_dim > 256)
    fail(
        "model {}: head_dim {} is not supported by the CUDA engine (needs a multiple of 8, "
        "at most 256); use --device cpu",
        dir, c.head_dim);
  if (c.num_heads % c.num_kv_heads != 0 || c.num_heads / c.num_kv_heads > 8)
    fail(
        "model {}: {} heads over {} kv heads is not supported by the CUDA engine (group of at "
        "most 8); use --device cpu",
        dir, c.num_heads, c.num_kv_heads);
  if (c.hidden_size % 8 != 0 || c.intermediate_size % 8 != 0)
    fail(
        "model {}: hidden_size {} and intermediate_size {} must be multiples of 8 for the CUDA "
        "engine; use --device cpu",
        dir, c.hidden_size, c.intermediate_size);
}

}  // namespace

CudaEngine::CudaEngine(const model::ModelWeights& weights, const EngineOptions& opts)
    : cfg_(weights.config), opts_(opts) {
  const auto& c = cfg_;
  if (opts_.max_batch < 1) fail("batch size must be at least 1 (got {})", opts_.max_batch);
  if (opts_.max_context <= 0) opts_.max_context = c.max_position_embeddings;
  check_paths(opts_.cuda);
  check_supported(c, weights.dir.string());
  const DevType t = resolve_devtype(opts_.format, weights.embed.dtype);
  const quant::WeightFormat wf =
      t == DevType::F16 ? quant::WeightFormat::FP16 : quant::WeightFormat::BF16;

  open_device();
  const int rows0 = std::max(opts_.max_batch, 16);
  const size_t kv_bytes = check_memory(weights, rows0);

  const size_t B = size_t(opts_.max_batch), ctx = size_t(opts_.max_context);
  upload_model(weights, t, wf, model_, stream_, opts_.format);
  k_cache_.allocate(kv_bytes / 2, fmt::format("K cache ({} layers x batch {} x context {})",
                                              c.num_layers, B, ctx));
  v_cache_.allocate(kv_bytes / 2, fmt::format("V cache ({} layers x batch {} x context {})",
                                              c.num_layers, B, ctx));

  upload_rope_tables();
  allocate_step_state();
  ensure_rows(rows0);
  ensure_logit_rows(int(B));
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "engine setup");
}

void CudaEngine::open_device() {
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
}

size_t CudaEngine::check_memory(const model::ModelWeights& weights, int rows0) {
  const auto& c = cfg_;
  const size_t B = size_t(opts_.max_batch), ctx = size_t(opts_.max_context);
  layer_cache_elems_ = B * size_t(c.num_kv_heads) * ctx * size_t(c.head_dim);
  const size_t kv_bytes = 2 * layer_cache_elems_ * size_t(c.num_layers) * 2;
  const size_t w_bytes = device_weight_bytes(weights);
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
  return kv_bytes;
}

void CudaEngine::allocate_step_state() {
  const auto& c = cfg_;
  const size_t B = size_t(opts_.max_batch);
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
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), "uploading sequence ids");  // iota dies here
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

}  // namespace eco::engine::cuda
