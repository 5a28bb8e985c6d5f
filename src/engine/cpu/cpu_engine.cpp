// The CPU reference engine. Every token of a step (all prompts of a prefill, or one token per
// sequence in decode) goes through the projections as one [tokens, features] matrix; attention
// runs per sequence and head against that sequence's KV cache.
#include "engine/cpu/cpu_engine.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/error.h"
#include "common/parallel.h"
#include "engine/cpu/convert.h"
#include "engine/cpu/kv_cache.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/ops.h"
#include "engine/finite_logits.h"
#include "model/rope.h"

namespace eco::engine::cpu {

namespace {

struct CpuLayer {
  std::vector<float> attn_norm, mlp_norm;
  std::unique_ptr<Linear> wq, wk, wv, wo, w_gate, w_up, w_down;
  std::vector<float> bq, bk, bv;      // empty unless the model has q/k/v biases (Qwen2)
  std::vector<float> bo;              // o_proj bias (attention_bias), or empty
  std::vector<float> q_norm, k_norm;  // Qwen3 per-head RMSNorm weights [head_dim], or empty
};

// New tokens of one sequence in a step: rows [first_row, first_row + count) of the step's
// activations, at positions [pos0, pos0 + count) of sequence `seq`.
struct Segment {
  int seq;
  size_t first_row;
  int count;
  int pos0;
};

void check_config(const model::ModelConfig& c, size_t layer_views) {
  auto positive = [](int v, const char* field) {
    if (v <= 0) fail("model config: {} must be positive (got {})", field, v);
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_layers, "num_hidden_layers");
  positive(c.num_heads, "num_attention_heads");
  positive(c.num_kv_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.vocab_size, "vocab_size");
  if (c.num_heads % c.num_kv_heads != 0)
    fail("model config: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
         c.num_heads, c.num_kv_heads);
  if (c.head_dim % 2 != 0) fail("model config: head_dim ({}) must be even for RoPE", c.head_dim);
  if (layer_views != size_t(c.num_layers))
    fail("model has {} layers of weights, its config says num_hidden_layers = {}", layer_views,
         c.num_layers);
}

std::unique_ptr<Linear> load_linear(const model::TensorView& t, const quant::FormatSpec& f, int out,
                                    int in) {
  if (t.shape.size() != 2 || t.shape[0] != out || t.shape[1] != in)
    fail("tensor '{}' in {} has shape [{}], the config implies [{}, {}]", t.name, t.file,
         fmt::join(t.shape, ", "), out, in);
  return make_linear(t, f);
}

std::vector<float> load_vector(const model::TensorView& t, const quant::FormatSpec& f, int n) {
  return to_fp32(t, f, n);
}

class CpuEngine final : public Engine {
 public:
  CpuEngine(const model::ModelWeights& w, const EngineOptions& opts, MatmulObserver observer)
      : cfg_(w.config),
        opts_(opts),
        cache_(w.config.num_layers, w.config.kv_dim(), 1),
        observer_(std::move(observer)) {
    opts_.device = DeviceKind::Cpu;
    if (opts_.max_batch < 1) fail("batch size must be at least 1 (got {})", opts_.max_batch);
    if (opts_.max_context <= 0) opts_.max_context = cfg_.max_position_embeddings;
    if (opts_.max_context <= 0)
      fail(
          "the maximum context is unknown: the config has no max_position_embeddings; pass "
          "--max-context N");
    check_config(cfg_, w.layers.size());
    cache_ = KvCache(cfg_.num_layers, cfg_.kv_dim(), opts_.max_context);

    // Quantized formats apply to the decoder's linear layers only; the embedding, the norms and
    // the lm_head stay fp16, as with Hugging Face's load_in_8bit / load_in_4bit.
    const quant::FormatSpec f =
        opts_.format.quantized() ? quant::parse_format("fp16") : opts_.format;
    const quant::FormatSpec& lf = opts_.format;
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    const int QD = cfg_.q_dim(), KVD = cfg_.kv_dim();
    embed_ = std::make_shared<const std::vector<float>>(
        to_fp32(w.embed, f, int64_t(cfg_.vocab_size) * H));
    final_norm_ = load_vector(w.final_norm, f, H);
    const bool tied = w.lm_head.empty() || w.lm_head.data == w.embed.data;
    if (tied) {
      lm_head_ = make_linear(w.embed, f, embed_);
    } else {
      lm_head_ = load_linear(w.lm_head, f, cfg_.vocab_size, H);
    }
    tied_ = tied;
    for (const auto& lw : w.layers) {
      CpuLayer l;
      l.attn_norm = load_vector(lw.attn_norm, f, H);
      l.mlp_norm = load_vector(lw.mlp_norm, f, H);
      l.wq = load_linear(lw.wq, lf, QD, H);
      l.wk = load_linear(lw.wk, lf, KVD, H);
      l.wv = load_linear(lw.wv, lf, KVD, H);
      l.wo = load_linear(lw.wo, lf, H, QD);
      l.w_gate = load_linear(lw.w_gate, lf, I, H);
      l.w_up = load_linear(lw.w_up, lf, I, H);
      l.w_down = load_linear(lw.w_down, lf, H, I);
      if (!lw.bq.empty() || !lw.bk.empty() || !lw.bv.empty()) {
        if (lw.bq.empty() || lw.bk.empty() || lw.bv.empty())
          fail("layer {}: q/k/v biases must be all present or all absent", layers_.size());
        l.bq = load_vector(lw.bq, f, QD);
        l.bk = load_vector(lw.bk, f, KVD);
        l.bv = load_vector(lw.bv, f, KVD);
      } else if (cfg_.qkv_bias) {
        fail("layer {}: the config asks for q/k/v biases but the weights have none",
             layers_.size());
      }
      if (!lw.bo.empty()) l.bo = load_vector(lw.bo, f, H);
      if (cfg_.qk_norm) {
        if (lw.q_norm.empty() || lw.k_norm.empty())
          fail("layer {}: the config (qwen3) asks for q_norm/k_norm weights but there are none",
               layers_.size());
        l.q_norm = load_vector(lw.q_norm, f, cfg_.head_dim);
        l.k_norm = load_vector(lw.k_norm, f, cfg_.head_dim);
      }
      layers_.push_back(std::move(l));
    }
    rope_schedule_ = model::rope_schedule(cfg_, opts_.max_context);
  }

  const model::ModelConfig& config() const override { return cfg_; }
  const EngineOptions& options() const override { return opts_; }

  std::string describe() const override {
    size_t bytes = lm_head_->bytes() + (tied_ ? 0 : embed_->size() * sizeof(float));
    for (const auto& l : layers_)
      for (const Linear* lin : {l.wq.get(), l.wk.get(), l.wv.get(), l.wo.get(), l.w_gate.get(),
                                l.w_up.get(), l.w_down.get()})
        bytes += lin->bytes();
    return fmt::format(
        "cpu reference engine ({} threads): {} {} layers hidden {}, format {} held as fp32 "
        "({}{}, {:.1f} MiB of weights)",
        thread_count(), cfg_.model_type.empty() ? "model" : cfg_.model_type, cfg_.num_layers,
        cfg_.hidden_size, opts_.format.name(), lm_head_->kind(),
        layers_.empty() ? std::string() : "; layers: " + layers_.front().wq->kind(),
        double(bytes) / (1024.0 * 1024.0));
  }

  void prefill(const std::vector<std::vector<int32_t>>& prompts, bool all_logits) override {
    if (prompts.empty()) fail("prefill: no prompts given");
    if (int(prompts.size()) > opts_.max_batch)
      fail("prefill: {} prompts exceed the engine's batch size of {}", prompts.size(),
           opts_.max_batch);
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (prompts[i].empty()) fail("prompt {} is empty: give at least one token id", i);
      if (int64_t(prompts[i].size()) > opts_.max_context)
        fail("prompt {} has {} tokens, more than the maximum context of {} (--max-context)", i,
             prompts[i].size(), opts_.max_context);
      check_ids(prompts[i], fmt::format("prompt {}", i));
    }

    cache_.reset(int(prompts.size()));
    saved_ = {};  // a saved position belongs to the batch it was saved in
    std::vector<int32_t> ids;
    std::vector<Segment> segs;
    std::vector<size_t> logit_rows;
    for (size_t i = 0; i < prompts.size(); ++i) {
      segs.push_back({int(i), ids.size(), int(prompts[i].size()), 0});
      ids.insert(ids.end(), prompts[i].begin(), prompts[i].end());
      if (all_logits) {
        for (size_t t = 0; t < prompts[i].size(); ++t)
          logit_rows.push_back(segs.back().first_row + t);
      }
      last_rows_.clear();
    }
    last_rows_.clear();
    for (const auto& s : segs) {
      const size_t last = s.first_row + size_t(s.count) - 1;
      if (all_logits) {
        last_rows_.push_back(last);
      } else {
        last_rows_.push_back(logit_rows.size());
        logit_rows.push_back(last);
      }
    }
    forward(ids, segs, logit_rows);
  }

  void decode(const std::vector<int32_t>& tokens) override {
    if (cache_.batch() == 0) fail("decode called before prefill: start a batch with prefill()");
    if (int(tokens.size()) != cache_.batch())
      fail("decode: got {} tokens for a batch of {} sequences", tokens.size(), cache_.batch());
    check_ids(tokens, "decode input");
    for (int i = 0; i < cache_.batch(); ++i)
      if (cache_.length(i) >= opts_.max_context)
        fail(
            "decode: sequence {} already holds {} tokens, the maximum context (--max-context); "
            "generate fewer tokens or raise the context",
            i, cache_.length(i));
    std::vector<Segment> segs;
    std::vector<size_t> logit_rows;
    last_rows_.clear();
    for (int i = 0; i < cache_.batch(); ++i) {
      segs.push_back({i, size_t(i), 1, cache_.length(i)});
      logit_rows.push_back(size_t(i));
      last_rows_.push_back(size_t(i));
    }
    forward(tokens, segs, logit_rows);
  }

  std::vector<int32_t> argmax() override {
    require_logits("argmax");
    std::vector<int32_t> out;
    const size_t vocab = size_t(cfg_.vocab_size);
    for (size_t i = 0; i < last_rows_.size(); ++i) {
      const float* row = logits_.data() + last_rows_[i] * vocab;
      // A choice among NaNs is no choice: fail with the reason instead of emitting token 0.
      check_finite_logits(std::span(row, vocab), vocab,
                          fmt::format("sequence {} after {} tokens", i, cache_.length(int(i))));
      out.push_back(argmax_row(row, cfg_.vocab_size));
    }
    return out;
  }

  std::vector<float> logits() override {
    require_logits("logits");
    return logits_;
  }

  void synchronize() override {}

  int sequence_length(int i) const override {
    if (i < 0 || i >= cache_.batch())
      fail("sequence_length: sequence {} is not in the current batch of {}", i, cache_.batch());
    return cache_.length(i);
  }

  bool can_restore_position() const override { return true; }

  void save_position() override {
    require_logits("save_position");
    saved_.lengths.clear();
    for (int i = 0; i < cache_.batch(); ++i) saved_.lengths.push_back(cache_.length(i));
    saved_.logits = logits_;
    saved_.last_rows = last_rows_;
  }

  void restore_position() override {
    if (saved_.lengths.empty() || int(saved_.lengths.size()) != cache_.batch())
      fail("restore_position: no position saved for the current batch (call save_position)");
    for (int i = 0; i < cache_.batch(); ++i) {
      if (cache_.length(i) < saved_.lengths[size_t(i)])
        fail("restore_position: sequence {} is shorter than its saved position", i);
      cache_.set_length(i, saved_.lengths[size_t(i)]);
    }
    logits_ = saved_.logits;
    last_rows_ = saved_.last_rows;
  }

 private:
  void check_ids(const std::vector<int32_t>& ids, const std::string& what) const {
    for (size_t t = 0; t < ids.size(); ++t)
      if (ids[t] < 0 || ids[t] >= cfg_.vocab_size)
        fail("{}: token id {} at position {} is outside the vocabulary [0, {})", what, ids[t], t,
             cfg_.vocab_size);
  }

  void observe(MatmulInput kind, size_t layer, const float* x, int rows, int cols) const {
    if (observer_) observer_(kind, int(layer), x, rows, cols);
  }

  // The RoPE table of a step whose longest sequence reaches seq_len positions (model/rope.h);
  // recomputed only when the step falls under another entry of the schedule.
  const model::RopeTable& rope_table_for(int seq_len) {
    const int index = rope_schedule_.index(seq_len);
    if (index != rope_index_) {
      rope_ = model::rope_table(cfg_, rope_schedule_.seq_len_of(index));
      rope_index_ = index;
    }
    return rope_;
  }

  void require_logits(const char* what) const {
    if (last_rows_.empty()) fail("{} called before prefill: no logits yet", what);
  }

  // Adds the q/k/v biases, applies Qwen3's per-head q/k norms and the rotary embedding, and
  // writes each new token's key and value into its sequence's cache.
  void qkv_to_cache(const CpuLayer& L, size_t li, const std::vector<Segment>& segs, int T,
                    const model::RopeTable& rope) {
    const int QD = cfg_.q_dim(), KVD = cfg_.kv_dim(), HD = cfg_.head_dim;
    const int heads = cfg_.num_heads, kv_heads = cfg_.num_kv_heads;
    if (!L.bq.empty()) {
      for (int t = 0; t < T; ++t) {
        add_inplace(q_.data() + size_t(t) * QD, L.bq.data(), size_t(QD));
        add_inplace(k_.data() + size_t(t) * KVD, L.bk.data(), size_t(KVD));
        add_inplace(v_.data() + size_t(t) * KVD, L.bv.data(), size_t(KVD));
      }
    }
    if (!L.q_norm.empty()) {
      for (int t = 0; t < T; ++t) {
        for (int h = 0; h < heads; ++h) {
          float* qh = q_.data() + size_t(t) * QD + size_t(h) * HD;
          rmsnorm(qh, L.q_norm.data(), HD, cfg_.rms_norm_eps, qh);
        }
        for (int h = 0; h < kv_heads; ++h) {
          float* kh = k_.data() + size_t(t) * KVD + size_t(h) * HD;
          rmsnorm(kh, L.k_norm.data(), HD, cfg_.rms_norm_eps, kh);
        }
      }
    }
    const float* inv_freq = rope.inv_freq.data();
    for (const auto& s : segs) {
      float* kc = cache_.keys(s.seq, int(li));
      float* vc = cache_.values(s.seq, int(li));
      for (int t = 0; t < s.count; ++t) {
        const size_t row = s.first_row + size_t(t);
        const int pos = s.pos0 + t;
        apply_rope(q_.data() + row * QD, heads, HD, pos, inv_freq, rope.attention_scaling);
        apply_rope(k_.data() + row * KVD, kv_heads, HD, pos, inv_freq, rope.attention_scaling);
        std::memcpy(kc + size_t(pos) * KVD, k_.data() + row * KVD, size_t(KVD) * sizeof(float));
        std::memcpy(vc + size_t(pos) * KVD, v_.data() + row * KVD, size_t(KVD) * sizeof(float));
      }
    }
  }

  void resize_buffers(int T) {
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    const int QD = cfg_.q_dim(), KVD = cfg_.kv_dim();
    h_.resize(size_t(T) * H);
    x_.resize(size_t(T) * H);
    o_.resize(size_t(T) * H);
    q_.resize(size_t(T) * QD);
    att_.resize(size_t(T) * QD);
    k_.resize(size_t(T) * KVD);
    v_.resize(size_t(T) * KVD);
    gate_.resize(size_t(T) * I);
    up_.resize(size_t(T) * I);
  }

  // Attention of every new token over its sequence's cache in layer li, into att_. One task per
  // (sequence, head); each writes its own slice of att_. Short steps (a decode of a small model)
  // run inline rather than waking the pool.
  void attend(size_t li, const std::vector<Segment>& segs) {
    const int QD = cfg_.q_dim(), KVD = cfg_.kv_dim(), HD = cfg_.head_dim;
    const int heads = cfg_.num_heads, kv_heads = cfg_.num_kv_heads;
    const int group = heads / kv_heads;
    size_t score_count = 0;
    for (const auto& s : segs) score_count += size_t(s.count) * size_t(s.pos0 + s.count);
    const size_t tasks = segs.size() * size_t(heads);
    const bool small_step = score_count * size_t(heads) * size_t(HD) < (size_t(1) << 15);
    parallel_for(
        tasks,
        [&](size_t begin, size_t end) {
          std::vector<float> scores;
          for (size_t task = begin; task < end; ++task) {
            const Segment& s = segs[task / size_t(heads)];
            const int h = int(task % size_t(heads));
            const int kvh = h / group;
            scores.resize(size_t(s.pos0 + s.count));
            attention_head(q_.data() + s.first_row * QD + size_t(h) * HD, size_t(QD), s.count,
                           s.pos0, cache_.keys(s.seq, int(li)) + size_t(kvh) * HD,
                           cache_.values(s.seq, int(li)) + size_t(kvh) * HD, size_t(KVD), HD,
                           att_.data() + s.first_row * QD + size_t(h) * HD, size_t(QD),
                           scores.data(), cfg_.sliding_window);
          }
        },
        small_step ? tasks : 1);
  }

  // The attention half of layer li: norm, q/k/v, cache, attention, o_proj, residual.
  void attention_block(const CpuLayer& L, size_t li, const std::vector<Segment>& segs, int T,
                       const model::RopeTable& rope) {
    const int H = cfg_.hidden_size, QD = cfg_.q_dim();
    rmsnorm_rows(h_.data(), L.attn_norm.data(), T, H, cfg_.rms_norm_eps, x_.data());
    observe(MatmulInput::Qkv, li, x_.data(), T, H);
    L.wq->forward(x_.data(), T, q_.data());
    L.wk->forward(x_.data(), T, k_.data());
    L.wv->forward(x_.data(), T, v_.data());
    qkv_to_cache(L, li, segs, T, rope);
    attend(li, segs);
    observe(MatmulInput::O, li, att_.data(), T, QD);
    L.wo->forward(att_.data(), T, o_.data());
    if (!L.bo.empty())
      for (int t = 0; t < T; ++t) add_inplace(o_.data() + size_t(t) * H, L.bo.data(), size_t(H));
    add_inplace(h_.data(), o_.data(), h_.size());
  }

  // The MLP half of layer li: norm, SwiGLU, down projection, residual.
  void mlp_block(const CpuLayer& L, size_t li, int T) {
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    rmsnorm_rows(h_.data(), L.mlp_norm.data(), T, H, cfg_.rms_norm_eps, x_.data());
    observe(MatmulInput::GateUp, li, x_.data(), T, H);
    L.w_gate->forward(x_.data(), T, gate_.data());
    L.w_up->forward(x_.data(), T, up_.data());
    swiglu(gate_.data(), up_.data(), gate_.size(), gate_.data());
    observe(MatmulInput::Down, li, gate_.data(), T, I);
    L.w_down->forward(gate_.data(), T, o_.data());
    add_inplace(h_.data(), o_.data(), h_.size());
  }

  void forward(const std::vector<int32_t>& ids, const std::vector<Segment>& segs,
               const std::vector<size_t>& logit_rows) {
    const int T = int(ids.size());
    const int H = cfg_.hidden_size;
    resize_buffers(T);

    int seq_len = 0;  // the longest sequence after this step picks the RoPE table
    for (const auto& s : segs) {
      cache_.grow(s.seq, s.pos0 + s.count);
      seq_len = std::max(seq_len, s.pos0 + s.count);
    }
    const model::RopeTable& rope = rope_table_for(seq_len);
    embed_rows(embed_->data(), H, ids.data(), ids.size(), h_.data());

    for (size_t li = 0; li < layers_.size(); ++li) {
      attention_block(layers_[li], li, segs, T, rope);
      mlp_block(layers_[li], li, T);
    }
    for (const auto& s : segs) cache_.set_length(s.seq, s.pos0 + s.count);

    // Only the rows whose logits are wanted go through the final norm and the lm_head.
    const int R = int(logit_rows.size());
    x_.resize(size_t(R) * H);
    for (int r = 0; r < R; ++r)
      rmsnorm(h_.data() + logit_rows[size_t(r)] * H, final_norm_.data(), H, cfg_.rms_norm_eps,
              x_.data() + size_t(r) * H);
    logits_.resize(size_t(R) * size_t(cfg_.vocab_size));
    lm_head_->forward(x_.data(), R, logits_.data());
  }

  model::ModelConfig cfg_;
  EngineOptions opts_;
  std::shared_ptr<const std::vector<float>> embed_;
  std::vector<float> final_norm_;
  std::unique_ptr<Linear> lm_head_;
  bool tied_ = false;
  std::vector<CpuLayer> layers_;
  model::RopeSchedule rope_schedule_;
  model::RopeTable rope_;
  int rope_index_ = -1;  // the schedule entry rope_ holds (-1: none yet)
  KvCache cache_;
  MatmulObserver observer_;

  std::vector<float> logits_;      // [rows, vocab]
  std::vector<size_t> last_rows_;  // per sequence: its row in logits_
  struct SavedPosition {
    std::vector<int> lengths;
    std::vector<float> logits;
    std::vector<size_t> last_rows;
  } saved_;
  // Step activations, reused across calls.
  std::vector<float> h_, x_, o_, q_, att_, k_, v_, gate_, up_;
};

}  // namespace

const char* matmul_input_name(MatmulInput kind) {
  switch (kind) {
    case MatmulInput::Qkv:
      return "qkv";
    case MatmulInput::O:
      return "o";
    case MatmulInput::GateUp:
      return "gate_up";
    case MatmulInput::Down:
      return "down";
  }
  return "?";
}

std::unique_ptr<Engine> create_cpu_engine(const model::ModelWeights& weights,
                                          const EngineOptions& opts, MatmulObserver observer) {
  return std::make_unique<CpuEngine>(weights, opts, std::move(observer));
}

}  // namespace eco::engine::cpu
