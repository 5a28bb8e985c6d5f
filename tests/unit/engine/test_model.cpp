#include "test_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "common/half.h"
#include "model/rope.h"

namespace eco::engine::test {

std::vector<float> random_floats(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

namespace {

model::TensorView add_tensor(TestModel& m, const std::string& name, std::vector<int64_t> shape,
                             const std::vector<float>& values, model::DType dtype) {
  const size_t es = dtype == model::DType::F32 ? 4 : 2;
  auto buf = std::make_unique<std::vector<std::byte>>(values.size() * es);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == model::DType::F32) {
      std::memcpy(buf->data() + i * 4, &values[i], 4);
    } else {
      const uint16_t h =
          dtype == model::DType::F16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
      std::memcpy(buf->data() + i * 2, &h, 2);
    }
  }
  model::TensorView t;
  t.name = name;
  t.file = "test-model";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = buf->data();
  t.nbytes = buf->size();
  m.buffers.push_back(std::move(buf));
  return t;
}

}  // namespace

std::unique_ptr<TestModel> make_test_model(const TestShape& s, uint64_t seed) {
  auto m = std::make_unique<TestModel>();
  auto& c = m->weights.config;
  c.arch = s.qk_norm ? model::Arch::Qwen3 : s.qkv_bias ? model::Arch::Qwen2 : model::Arch::Llama;
  c.model_type = std::string(model::arch_name(c.arch));
  c.qk_norm = s.qk_norm;
  c.o_bias = s.o_bias;
  c.rope = s.rope;
  c.hidden_size = s.hidden;
  c.intermediate_size = s.intermediate;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.vocab_size = s.vocab;
  c.max_position_embeddings = s.max_positions;
  c.rms_norm_eps = s.eps;
  c.rope_theta = s.rope_theta;
  c.tie_word_embeddings = s.tied;
  c.qkv_bias = s.qkv_bias;
  c.sliding_window = s.sliding_window;
  c.eos_token_ids = {s.vocab - 1};
  c.dtype = s.dtype;

  uint64_t next = seed * 1000003u + 17;
  auto matrix = [&](const std::string& name, int out, int in) {
    const float scale = 1.7f / std::sqrt(float(in));
    return add_tensor(*m, name, {out, in}, random_floats(size_t(out) * size_t(in), next++, scale),
                      s.dtype);
  };
  auto norm = [&](const std::string& name, int n) {
    auto v = random_floats(size_t(n), next++, 0.2f);
    for (auto& x : v) x += 1.0f;
    return add_tensor(*m, name, {n}, v, s.dtype);
  };
  auto bias = [&](const std::string& name, int n) {
    return add_tensor(*m, name, {n}, random_floats(size_t(n), next++, 0.3f), s.dtype);
  };

  const int qd = s.heads * s.head_dim, kvd = s.kv_heads * s.head_dim;
  auto& w = m->weights;
  w.embed = add_tensor(*m, "model.embed_tokens.weight", {s.vocab, s.hidden},
                       random_floats(size_t(s.vocab) * size_t(s.hidden), next++, 1.0f), s.dtype);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    model::LayerWeights L;
    L.attn_norm = norm(p + "input_layernorm.weight", s.hidden);
    L.wq = matrix(p + "self_attn.q_proj.weight", qd, s.hidden);
    L.wk = matrix(p + "self_attn.k_proj.weight", kvd, s.hidden);
    L.wv = matrix(p + "self_attn.v_proj.weight", kvd, s.hidden);
    L.wo = matrix(p + "self_attn.o_proj.weight", s.hidden, qd);
    if (s.o_bias) L.bo = bias(p + "self_attn.o_proj.bias", s.hidden);
    if (s.qk_norm) {
      L.q_norm = norm(p + "self_attn.q_norm.weight", s.head_dim);
      L.k_norm = norm(p + "self_attn.k_norm.weight", s.head_dim);
    }
    if (s.qkv_bias) {
      L.bq = bias(p + "self_attn.q_proj.bias", qd);
      L.bk = bias(p + "self_attn.k_proj.bias", kvd);
      L.bv = bias(p + "self_attn.v_proj.bias", kvd);
    }
    L.mlp_norm = norm(p + "post_attention_layernorm.weight", s.hidden);
    L.w_gate = matrix(p + "mlp.gate_proj.weight", s.intermediate, s.hidden);
    L.w_up = matrix(p + "mlp.up_proj.weight", s.intermediate, s.hidden);
    L.w_down = matrix(p + "mlp.down_proj.weight", s.hidden, s.intermediate);
    w.layers.push_back(std::move(L));
  }
  w.final_norm = norm("model.norm.weight", s.hidden);
  // Logit scale ~3 so that the softmax is neither flat nor one-hot.
  w.lm_head = s.tied ? w.embed
                     : add_tensor(*m, "lm_head.weight", {s.vocab, s.hidden},
                                  random_floats(size_t(s.vocab) * size_t(s.hidden), next++,
                                                5.0f / std::sqrt(float(s.hidden))),
                                  s.dtype);
  return m;
}

double view_at(const model::TensorView& t, int64_t i) {
  if (t.dtype == model::DType::F32) {
    float f;
    std::memcpy(&f, t.data + size_t(i) * 4, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, t.data + size_t(i) * 2, 2);
  return t.dtype == model::DType::F16 ? half_to_float(h) : bf16_to_float(h);
}

namespace {

using Mat = std::vector<std::vector<double>>;

std::vector<double> values(const model::TensorView& t, float (*round)(float)) {
  int64_t n = 1;
  for (auto d : t.shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = view_at(t, i);
    v[size_t(i)] = round ? double(round(float(x))) : x;
  }
  return v;
}

// y = W x for W [out, in] stored row-major.
std::vector<double> matvec(const std::vector<double>& W, const std::vector<double>& x, int out) {
  const size_t in = x.size();
  std::vector<double> y(size_t(out), 0.0);
  for (int o = 0; o < out; ++o)
    for (size_t i = 0; i < in; ++i) y[size_t(o)] += W[size_t(o) * in + i] * x[i];
  return y;
}

std::vector<double> rms(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = w[i] * x[i] * inv;
  return y;
}

// Rotates n_heads vectors by pos * inv_freq[i], cos and sin times `scaling`.
void rope(std::vector<double>& x, int n_heads, int hd, int pos, const std::vector<double>& inv_freq,
          double scaling) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < hd / 2; ++i) {
      const double ang = pos * inv_freq[size_t(i)];
      const double c = std::cos(ang) * scaling, sn = std::sin(ang) * scaling;
      const size_t a = size_t(h * hd + i), b = a + size_t(hd / 2);
      const double xa = x[a], xb = x[b];
      x[a] = xa * c - xb * sn;
      x[b] = xb * c + xa * sn;
    }
  }
}

// Per-head RMSNorm over consecutive head_dim slices (Qwen3's q_norm / k_norm).
void head_norm(std::vector<double>& x, int hd, const std::vector<double>& w, double eps) {
  for (size_t h = 0; h < x.size() / size_t(hd); ++h) {
    std::vector<double> head(x.begin() + ptrdiff_t(h * size_t(hd)),
                             x.begin() + ptrdiff_t((h + 1) * size_t(hd)));
    head = rms(head, w, eps);
    std::copy(head.begin(), head.end(), x.begin() + ptrdiff_t(h * size_t(hd)));
  }
}

// The frequencies and scaling that rotate position `pos`.
std::pair<std::vector<double>, double> rope_at(const model::ModelConfig& c, int seq_len) {
  std::vector<double> inv(size_t(c.head_dim / 2));
  if (c.rope.type == model::RopeType::Default) {
    for (int i = 0; i < c.head_dim / 2; ++i)
      inv[size_t(i)] = std::pow(double(c.rope_theta), -2.0 * i / c.head_dim);
    return {inv, 1.0};
  }
  const model::RopeTable t = model::rope_table(c, seq_len);
  for (size_t i = 0; i < inv.size(); ++i) inv[i] = t.inv_freq[i];
  return {inv, t.attention_scaling};
}

}  // namespace

std::vector<std::vector<double>> reference_logits(const model::ModelWeights& w,
                                                  const std::vector<int32_t>& tokens,
                                                  float (*round)(float),
                                                  const std::function<int(int)>& rope_seq_len) {
  const auto& c = w.config;
  const int H = c.hidden_size, hd = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads;
  const int T = int(tokens.size());
  const auto embed = values(w.embed, round);
  Mat h(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t)
    h[size_t(t)].assign(embed.begin() + size_t(tokens[size_t(t)]) * size_t(H),
                        embed.begin() + size_t(tokens[size_t(t)] + 1) * size_t(H));
  for (const auto& L : w.layers) {
    const auto an = values(L.attn_norm, round), mn = values(L.mlp_norm, round);
    const auto wq = values(L.wq, round), wk = values(L.wk, round), wv = values(L.wv, round);
    const auto wo = values(L.wo, round), wg = values(L.w_gate, round), wu = values(L.w_up, round);
    const auto wd = values(L.w_down, round);
    Mat q(static_cast<size_t>(T)), k(q), v(q);
    for (int t = 0; t < T; ++t) {
      const auto x = rms(h[size_t(t)], an, c.rms_norm_eps);
      q[size_t(t)] = matvec(wq, x, nh * hd);
      k[size_t(t)] = matvec(wk, x, nkv * hd);
      v[size_t(t)] = matvec(wv, x, nkv * hd);
      if (!L.bq.empty()) {
        const auto bq = values(L.bq, round), bk = values(L.bk, round), bv = values(L.bv, round);
        for (size_t i = 0; i < bq.size(); ++i) q[size_t(t)][i] += bq[i];
        for (size_t i = 0; i < bk.size(); ++i) k[size_t(t)][i] += bk[i];
        for (size_t i = 0; i < bv.size(); ++i) v[size_t(t)][i] += bv[i];
      }
      if (!L.q_norm.empty()) {
        head_norm(q[size_t(t)], hd, values(L.q_norm, round), c.rms_norm_eps);
        head_norm(k[size_t(t)], hd, values(L.k_norm, round), c.rms_norm_eps);
      }
      const auto [inv, scaling] = rope_at(c, rope_seq_len ? rope_seq_len(t) : T);
      rope(q[size_t(t)], nh, hd, t, inv, scaling);
      rope(k[size_t(t)], nkv, hd, t, inv, scaling);
    }
    for (int t = 0; t < T; ++t) {
      std::vector<double> att(size_t(nh * hd), 0.0);
      for (int hh = 0; hh < nh; ++hh) {
        const int kvh = hh / (nh / nkv);
        // Keys older than the sliding window are masked: they get no weight at all.
        const int first = c.sliding_window > 0 ? std::max(0, t - c.sliding_window + 1) : 0;
        std::vector<double> s(static_cast<size_t>(t + 1), -1e300);
        double mx = -1e300;
        for (int p = first; p <= t; ++p) {
          double d = 0;
          for (int i = 0; i < hd; ++i)
            d += q[size_t(t)][size_t(hh * hd + i)] * k[size_t(p)][size_t(kvh * hd + i)];
          s[size_t(p)] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[size_t(p)]);
        }
        double sum = 0;
        for (int p = first; p <= t; ++p) sum += (s[size_t(p)] = std::exp(s[size_t(p)] - mx));
        for (int p = first; p <= t; ++p)
          for (int i = 0; i < hd; ++i)
            att[size_t(hh * hd + i)] += s[size_t(p)] / sum * v[size_t(p)][size_t(kvh * hd + i)];
      }
      auto o = matvec(wo, att, H);
      if (!L.bo.empty()) {
        const auto bo = values(L.bo, round);
        for (int i = 0; i < H; ++i) o[size_t(i)] += bo[size_t(i)];
      }
      for (int i = 0; i < H; ++i) h[size_t(t)][size_t(i)] += o[size_t(i)];
    }
    for (int t = 0; t < T; ++t) {
      const auto x = rms(h[size_t(t)], mn, c.rms_norm_eps);
      auto g = matvec(wg, x, c.intermediate_size);
      const auto u = matvec(wu, x, c.intermediate_size);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const auto d = matvec(wd, g, H);
      for (int i = 0; i < H; ++i) h[size_t(t)][size_t(i)] += d[size_t(i)];
    }
  }
  const auto fn = values(w.final_norm, round);
  const auto head = values(w.lm_head.empty() ? w.embed : w.lm_head, round);
  Mat out(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t)
    out[size_t(t)] = matvec(head, rms(h[size_t(t)], fn, c.rms_norm_eps), c.vocab_size);
  return out;
}

}  // namespace eco::engine::test
