#include "engine/cpu/ops.h"

#include <cmath>
#include <cstring>

#include "common/parallel.h"

namespace eco::engine::cpu {

namespace {
constexpr int kLanes = 8;

// Eight fp32 lanes held as two 4-wide vectors (GCC/Clang vector extension; 16-byte vectors keep
// the ABI the same with or without AVX): lane l accumulates the products of the elements
// i = l (mod 8) in sequential order. It compiles to SIMD without -ffast-math, and the result is
// the same on every build and thread count.
typedef float Quad __attribute__((vector_size(4 * sizeof(float))));
struct Lanes {
  Quad lo = {}, hi = {};
};

inline Quad load_quad(const float* p) {
  Quad v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void fma_lanes(Lanes& acc, const float* a, const float* b) {
  acc.lo += load_quad(a) * load_quad(b);
  acc.hi += load_quad(a + 4) * load_quad(b + 4);
}

inline void fma_lanes(Lanes& acc, Quad w_lo, Quad w_hi, const float* x) {
  acc.lo += w_lo * load_quad(x);
  acc.hi += w_hi * load_quad(x + 4);
}

inline float reduce_lanes(const Lanes& acc) {
  const Quad s = acc.lo + acc.hi;  // lanes (0+4), (1+5), (2+6), (3+7)
  return (s[0] + s[1]) + (s[2] + s[3]);
}
}  // namespace

float dot(const float* a, const float* b, int n) {
  Lanes acc;
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) fma_lanes(acc, a + i, b + i);
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return reduce_lanes(acc) + tail;
}

void dot4(const float* w, const float* x, size_t x_stride, int n, float out[4]) {
  const float* x0 = x;
  const float* x1 = x + x_stride;
  const float* x2 = x + 2 * x_stride;
  const float* x3 = x + 3 * x_stride;
  Lanes a0, a1, a2, a3;
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Quad w_lo = load_quad(w + i), w_hi = load_quad(w + i + 4);
    fma_lanes(a0, w_lo, w_hi, x0 + i);
    fma_lanes(a1, w_lo, w_hi, x1 + i);
    fma_lanes(a2, w_lo, w_hi, x2 + i);
    fma_lanes(a3, w_lo, w_hi, x3 + i);
  }
  float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (; i < n; ++i) {
    t0 += w[i] * x0[i];
    t1 += w[i] * x1[i];
    t2 += w[i] * x2[i];
    t3 += w[i] * x3[i];
  }
  out[0] = reduce_lanes(a0) + t0;
  out[1] = reduce_lanes(a1) + t1;
  out[2] = reduce_lanes(a2) + t2;
  out[3] = reduce_lanes(a3) + t3;
}

void rmsnorm(const float* x, const float* weight, int n, float eps, float* y) {
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  const float variance = float(sum_sq / n);
  const float inv = 1.0f / std::sqrt(variance + eps);
  for (int i = 0; i < n; ++i) y[i] = weight[i] * (x[i] * inv);
}

void rmsnorm_rows(const float* x, const float* weight, int rows, int n, float eps, float* y) {
  parallel_for(
      size_t(rows),
      [&](size_t begin, size_t end) {
        for (size_t r = begin; r < end; ++r)
          rmsnorm(x + r * size_t(n), weight, n, eps, y + r * size_t(n));
      },
      8);
}

std::vector<float> rope_inv_freq(int head_dim, double theta) {
  std::vector<float> inv(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i)
    inv[size_t(i)] = float(1.0 / std::pow(theta, double(2 * i) / double(head_dim)));
  return inv;
}

void apply_rope(float* x, int n_heads, int head_dim, int pos, const float* inv_freq,
                float scaling) {
  const int half = head_dim / 2;
  const float p = float(pos);
  for (int i = 0; i < half; ++i) {
    const float angle = p * inv_freq[i];
    const float c = std::cos(angle) * scaling, s = std::sin(angle) * scaling;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + size_t(h) * size_t(head_dim);
      const float a = v[i], b = v[i + half];
      // q * cos + rotate_half(q) * sin with rotate_half(q) = (-q2, q1).
      v[i] = a * c + (-b) * s;
      v[i + half] = b * c + a * s;
    }
  }
}

void attention_head(const float* q, size_t q_stride, int n_q, int pos0, const float* k,
                    const float* v, size_t kv_stride, int head_dim, float* out, size_t out_stride,
                    float* scores, int window) {
  const float scale = float(1.0 / std::sqrt(double(head_dim)));
  for (int t = 0; t < n_q; ++t) {
    const float* qt = q + size_t(t) * q_stride;
    const int pos = pos0 + t;
    const int first = first_key(pos, window), keys = pos + 1;  // causal: first .. pos
    float max_score = -INFINITY;
    for (int p = first; p < keys; ++p) {
      const float s = dot(qt, k + size_t(p) * kv_stride, head_dim) * scale;
      scores[p] = s;
      if (s > max_score) max_score = s;
    }
    float sum = 0.0f;
    for (int p = first; p < keys; ++p) {
      scores[p] = std::exp(scores[p] - max_score);
      sum += scores[p];
    }
    const float inv_sum = 1.0f / sum;
    float* ot = out + size_t(t) * out_stride;
    for (int d = 0; d < head_dim; ++d) ot[d] = 0.0f;
    for (int p = first; p < keys; ++p) {
      const float w = scores[p] * inv_sum;
      const float* vp = v + size_t(p) * kv_stride;
      for (int d = 0; d < head_dim; ++d) ot[d] += w * vp[d];
    }
  }
}

void attention(const float* q, int n_q, int pos0, const float* k, const float* v, int heads,
               int kv_heads, int head_dim, float* out, int window) {
  const int group = heads / kv_heads;
  const size_t q_stride = size_t(heads) * size_t(head_dim);
  const size_t kv_stride = size_t(kv_heads) * size_t(head_dim);
  parallel_for(size_t(heads), [&](size_t begin, size_t end) {
    std::vector<float> scores(size_t(pos0 + n_q));
    for (size_t h = begin; h < end; ++h) {
      const size_t kvh = h / size_t(group);
      attention_head(q + h * size_t(head_dim), q_stride, n_q, pos0, k + kvh * size_t(head_dim),
                     v + kvh * size_t(head_dim), kv_stride, head_dim, out + h * size_t(head_dim),
                     q_stride, scores.data(), window);
    }
  });
}

void swiglu(const float* gate, const float* up, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void add_inplace(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void embed_rows(const float* table, int hidden, const int32_t* ids, size_t count, float* out) {
  for (size_t t = 0; t < count; ++t)
    std::memcpy(out + t * size_t(hidden), table + size_t(ids[t]) * size_t(hidden),
                size_t(hidden) * sizeof(float));
}

int32_t argmax_row(const float* x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best] || (std::isnan(x[best]) && !std::isnan(x[i]))) best = i;
  return best;
}

}  // namespace eco::engine::cpu
