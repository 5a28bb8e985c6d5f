// Weights from the model's TensorViews (F16/BF16/F32, memory-mapped) to the device in the
// engine's element type. Same-type tensors are copied as they are; others go through a
// staging buffer and a conversion kernel. The gate and up projections are interleaved in
// groups of 8 rows so that one 16-row GEMV tile holds matching gate and up rows (SwiGLU in
// the epilogue); q, k and v are stacked into one matrix (one GEMV per layer).
#include <algorithm>
#include <limits>

#include "common/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/engine_impl.h"
#include "engine/cuda/quant_linear.h"

namespace eco::engine::cuda {
namespace {

SrcType src_type(const model::TensorView& v) {
  switch (v.dtype) {
    case model::DType::F32:
      return SrcType::F32;
    case model::DType::F16:
      return SrcType::F16;
    case model::DType::BF16:
      return SrcType::BF16;
    default:
      fail("{}: tensor '{}' has dtype {}; the CUDA engine loads F32, F16 or BF16 weights", v.file,
           v.name, model::dtype_name(v.dtype));
  }
}

bool same_type(SrcType s, DevType t) {
  return (s == SrcType::F16 && t == DevType::F16) || (s == SrcType::BF16 && t == DevType::BF16);
}

class Uploader {
 public:
  Uploader(DevType t, cudaStream_t s) : type_(t), stream_(s) {}

  // Writes rows of `v` (shape [rows, cols] or [cols]) into dst (T, row-major, `cols` wide):
  // source row r goes to (r / group) * group_stride + offset + r % group.
  void put(const model::TensorView& v, void* dst, int64_t group, int64_t group_stride,
           int64_t offset) {
    const int64_t rows = v.shape.size() == 2 ? v.dim(0) : 1;
    const int64_t cols = v.shape.size() == 2 ? v.dim(1) : v.numel();
    const SrcType st = src_type(v);
    const size_t src_row_bytes = size_t(cols) * model::dtype_size(v.dtype);
    const std::string what = fmt::format("uploading {} ({})", v.name, v.file);
    if (same_type(st, type_) && group >= rows) {  // plain copy into consecutive rows
      // Every copy goes on the engine's (non-blocking) stream: a plain cudaMemcpy from
      // pageable memory may return before its DMA lands, and that stream would not wait for it.
      ECO_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + size_t(offset) * cols * 2, v.data,
                                     v.nbytes, cudaMemcpyHostToDevice, stream_),
                     what);
      return;
    }
    const size_t stage_bytes = size_t(64) << 20;
    if (!stage_) stage_.allocate(stage_bytes, "weight upload staging buffer");
    int64_t chunk = std::max<int64_t>(1, int64_t(stage_bytes / src_row_bytes));
    if (group < rows) chunk = std::max<int64_t>(group, chunk / group * group);
    if (size_t(chunk) * src_row_bytes > stage_bytes)
      fail("{}: a row group of {} bytes exceeds the staging buffer", what,
           size_t(chunk) * src_row_bytes);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t rc = std::min(chunk, rows - r0);
      ECO_CUDA_CHECK(cudaMemcpyAsync(stage_.get(), v.data + size_t(r0) * src_row_bytes,
                                     size_t(rc) * src_row_bytes, cudaMemcpyHostToDevice, stream_),
                     what);
      const int64_t off = group >= rows ? offset + r0 : offset + (r0 / group) * group_stride;
      launch_convert_rows(st, stage_.get(), rc, cols, type_, dst, group, group_stride, off, stream_,
                          what);
      ECO_CUDA_CHECK(cudaStreamSynchronize(stream_), what);  // staging is reused next
    }
  }
  void put_plain(const model::TensorView& v, void* dst, int64_t row_offset = 0) {
    put(v, dst, std::numeric_limits<int64_t>::max(), 0, row_offset);
  }

 private:
  DevType type_;
  cudaStream_t stream_;
  DeviceBuffer stage_;
};

void make_linear(LinearWeight& lw, int n, int k, DevType t, quant::WeightFormat f,
                 const std::string& what) {
  lw.format = f;
  lw.type = t;
  lw.n = n;
  lw.k = k;
  lw.storage.allocate(size_t(n) * size_t(k) * 2, what);
  lw.data = lw.storage.get();
}

}  // namespace

DevType resolve_devtype(const quant::FormatSpec& fmt, model::DType stored) {
  switch (fmt.format) {
    case quant::WeightFormat::FP16:
      return DevType::F16;
    case quant::WeightFormat::BF16:
      return DevType::BF16;
    case quant::WeightFormat::Native:
      return stored == model::DType::BF16 ? DevType::BF16 : DevType::F16;
    case quant::WeightFormat::Int8:
    case quant::WeightFormat::NF4:
    case quant::WeightFormat::NF4DQ:
      return DevType::F16;  // fp16 activations, quantized weights
    case quant::WeightFormat::F32:
      fail(
          "--format fp32: the CUDA engine runs fp16 or bf16 weights; use --format fp16/bf16 or "
          "--device cpu");
    default:
      fail("--format {}: not implemented by the CUDA engine yet; use fp16 or bf16, or --device cpu",
           fmt.name());
  }
}

size_t device_weight_bytes(const model::ModelWeights& w) {
  const auto& c = w.config;
  const size_t h = size_t(c.hidden_size), inter = size_t(c.intermediate_size);
  const size_t qkv = size_t(c.q_dim() + 2 * c.kv_dim());
  size_t per_layer = qkv * h + h * size_t(c.q_dim()) + 2 * inter * h + h * inter + 2 * h;
  if (c.qkv_bias) per_layer += qkv;
  if (c.qk_norm) per_layer += 2 * size_t(c.head_dim);
  if (c.o_bias) per_layer += h;
  size_t total = per_layer * size_t(c.num_layers) + size_t(c.vocab_size) * h + h;
  if (w.lm_head.data != w.embed.data) total += size_t(c.vocab_size) * h;
  return total * 2;
}

void upload_model(const model::ModelWeights& w, DevType t, quant::WeightFormat fmt,
                  DeviceModel& out, cudaStream_t stream, const quant::FormatSpec& linear_format) {
  const auto& c = w.config;
  const int h = c.hidden_size, inter = c.intermediate_size, qd = c.q_dim(), kvd = c.kv_dim();
  out.type = t;
  out.format = fmt;
  Uploader up(t, stream);
  auto put_vec = [&](DeviceBuffer& b, const model::TensorView& v, const std::string& what) {
    b.allocate(size_t(v.numel()) * 2, what);
    up.put_plain(v, b.get());
  };
  put_vec(out.embed, w.embed, "embedding table");
  put_vec(out.final_norm, w.final_norm, "final norm");
  out.lm_head.format = fmt;
  out.lm_head.type = t;
  out.lm_head.n = c.vocab_size;
  out.lm_head.k = h;
  if (w.lm_head.data == w.embed.data) {
    out.lm_head.data = out.embed.get();  // tied: one copy, read by the lm_head every step
  } else {
    make_linear(out.lm_head, c.vocab_size, h, t, fmt, "lm_head");
    up.put_plain(w.lm_head, out.lm_head.storage.get());
  }
  out.layers.resize(size_t(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    const auto& lw = w.layers[size_t(l)];
    auto& d = out.layers[size_t(l)];
    const std::string ln = fmt::format("layer {} ", l);
    put_vec(d.attn_norm, lw.attn_norm, ln + "input norm");
    put_vec(d.mlp_norm, lw.mlp_norm, ln + "post-attention norm");
    if (c.qk_norm) {
      if (lw.q_norm.empty() || lw.k_norm.empty())
        fail("layer {}: the config (qwen3) asks for q_norm/k_norm weights but there are none", l);
      put_vec(d.q_norm, lw.q_norm, ln + "q norm");
      put_vec(d.k_norm, lw.k_norm, ln + "k norm");
    }
    if (!lw.bo.empty()) put_vec(d.o_bias, lw.bo, ln + "o_proj bias");
    if (linear_format.quantized()) {  // quantized on the device, same row placement as below
      const int64_t none = std::numeric_limits<int64_t>::max();
      upload_quant_linear(
          d.qkv, qd + 2 * kvd, h, linear_format,
          {{&lw.wq, {none, 0, 0}}, {&lw.wk, {none, 0, qd}}, {&lw.wv, {none, 0, qd + kvd}}}, stream,
          ln + "q/k/v projection");
      upload_quant_linear(d.o, h, qd, linear_format, {{&lw.wo, {}}}, stream, ln + "o projection");
      upload_quant_linear(d.gate_up, 2 * inter, h, linear_format,
                          {{&lw.w_gate, {8, 16, 0}}, {&lw.w_up, {8, 16, 8}}}, stream,
                          ln + "gate/up projection");
      upload_quant_linear(d.down, h, inter, linear_format, {{&lw.w_down, {}}}, stream,
                          ln + "down projection");
      if (!lw.bq.empty()) {
        d.qkv_bias.allocate(size_t(qd + 2 * kvd) * 2, ln + "q/k/v bias");
        up.put_plain(lw.bq, d.qkv_bias.get(), 0);
        up.put_plain(lw.bk, static_cast<char*>(d.qkv_bias.get()) + size_t(qd) * 2, 0);
        up.put_plain(lw.bv, static_cast<char*>(d.qkv_bias.get()) + size_t(qd + kvd) * 2, 0);
      }
      continue;
    }
    make_linear(d.qkv, qd + 2 * kvd, h, t, fmt, ln + "q/k/v projection");
    up.put_plain(lw.wq, d.qkv.storage.get(), 0);
    up.put_plain(lw.wk, d.qkv.storage.get(), qd);
    up.put_plain(lw.wv, d.qkv.storage.get(), qd + kvd);
    if (!lw.bq.empty()) {
      d.qkv_bias.allocate(size_t(qd + 2 * kvd) * 2, ln + "q/k/v bias");
      up.put_plain(lw.bq, d.qkv_bias.get(), 0);  // 1-D: a "row" is one element here
      // 1-D views are uploaded as one row of numel columns; place k and v after q.
      up.put_plain(lw.bk, static_cast<char*>(d.qkv_bias.get()) + size_t(qd) * 2, 0);
      up.put_plain(lw.bv, static_cast<char*>(d.qkv_bias.get()) + size_t(qd + kvd) * 2, 0);
    }
    make_linear(d.o, h, qd, t, fmt, ln + "o projection");
    up.put_plain(lw.wo, d.o.storage.get());
    make_linear(d.gate_up, 2 * inter, h, t, fmt, ln + "gate/up projection");
    up.put(lw.w_gate, d.gate_up.storage.get(), 8, 16, 0);
    up.put(lw.w_up, d.gate_up.storage.get(), 8, 16, 8);
    make_linear(d.down, h, inter, t, fmt, ln + "down projection");
    up.put_plain(lw.w_down, d.down.storage.get());
  }
  out.resident_bytes = device_weight_bytes(w);
  ECO_CUDA_CHECK(cudaStreamSynchronize(stream), "uploading the weights");
}

}  // namespace eco::engine::cuda
