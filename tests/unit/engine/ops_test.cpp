// Each CPU op against a direct double-precision computation on random inputs.
#include "engine/cpu/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "test_model.h"

namespace eco::engine::cpu {
namespace {

using test::random_floats;

TEST(CpuOps, DotMatchesDoubleAndDot4IsBitIdentical) {
  for (int n : {1, 7, 8, 9, 64, 100, 1536}) {
    const auto a = random_floats(size_t(n), 1, 1.0f);
    const auto x = random_floats(size_t(n) * 4, 2, 1.0f);
    double ref = 0, mag = 0;
    for (int i = 0; i < n; ++i) {
      ref += double(a[size_t(i)]) * double(x[size_t(i)]);
      mag += std::abs(double(a[size_t(i)]) * double(x[size_t(i)]));
    }
    EXPECT_NEAR(dot(a.data(), x.data(), n), ref, 1e-6 * mag + 1e-7) << "n=" << n;
    float d4[4];
    dot4(a.data(), x.data(), size_t(n), n, d4);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(d4[k], dot(a.data(), x.data() + size_t(k) * size_t(n), n)) << "n=" << n;
  }
}

TEST(CpuOps, RmsNormMatchesDouble) {
  const int n = 96;
  const auto x = random_floats(size_t(n) * 3, 3, 4.0f);
  const auto w = random_floats(size_t(n), 4, 2.0f);
  std::vector<float> y(x.size());
  rmsnorm_rows(x.data(), w.data(), 3, n, 1e-5f, y.data());
  for (int r = 0; r < 3; ++r) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += double(x[size_t(r * n + i)]) * x[size_t(r * n + i)];
    const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; ++i) {
      const double ref = double(w[size_t(i)]) * x[size_t(r * n + i)] * inv;
      EXPECT_NEAR(y[size_t(r * n + i)], ref, 2e-6 * (1 + std::abs(ref)));
    }
  }
}

TEST(CpuOps, RopeInverseFrequencies) {
  const auto inv = rope_inv_freq(128, 1000000.0);
  ASSERT_EQ(inv.size(), 64u);
  EXPECT_EQ(inv[0], 1.0f);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(inv[size_t(i)], float(std::pow(1000000.0, -2.0 * i / 128.0))) << i;
}

TEST(CpuOps, RopeRotatesHalvesAtSeveralPositions) {
  const int hd = 32, heads = 3;
  const double theta = 10000.0;
  const auto inv = rope_inv_freq(hd, theta);
  for (int pos : {0, 1, 5, 127, 4095}) {
    const auto x = random_floats(size_t(hd * heads), uint64_t(10 + pos), 1.0f);
    auto y = x;
    apply_rope(y.data(), heads, hd, pos, inv.data());
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < hd / 2; ++i) {
        // HF rotate-half: element i pairs with i + d/2 (not with i + 1).
        const double ang = double(pos) * double(inv[size_t(i)]);
        const double a = x[size_t(h * hd + i)], b = x[size_t(h * hd + i + hd / 2)];
        // fp32 angle rounding makes cos/sin differ by ~pos * eps from the exact angle.
        const double tol = 1e-6 + 4e-7 * pos;
        EXPECT_NEAR(y[size_t(h * hd + i)], a * std::cos(ang) - b * std::sin(ang), tol)
            << "pos " << pos << " head " << h << " i " << i;
        EXPECT_NEAR(y[size_t(h * hd + i + hd / 2)], b * std::cos(ang) + a * std::sin(ang), tol)
            << "pos " << pos << " head " << h << " i " << i;
      }
    }
    if (pos == 0) {
      EXPECT_EQ(x, y);  // position 0 is the identity
    }
  }
}

TEST(CpuOps, RopePreservesPairNorms) {
  const int hd = 16;
  const auto inv = rope_inv_freq(hd, 500000.0);
  auto x = random_floats(size_t(hd), 77, 1.0f);
  const auto before = x;
  apply_rope(x.data(), 1, hd, 33, inv.data());
  for (int i = 0; i < hd / 2; ++i) {
    const double n0 = std::hypot(before[size_t(i)], before[size_t(i + hd / 2)]);
    const double n1 = std::hypot(x[size_t(i)], x[size_t(i + hd / 2)]);
    EXPECT_NEAR(n0, n1, 1e-6);
  }
}

// Naive grouped-query attention in double, one head at a time. With window W > 0 the query at
// position pos sees keys pos - W + 1 .. pos only (the others get no weight).
std::vector<double> naive_attention(const std::vector<float>& q, int n_q, int pos0,
                                    const std::vector<float>& k, const std::vector<float>& v,
                                    int heads, int kv_heads, int hd, int window = 0) {
  std::vector<double> out(size_t(n_q * heads * hd), 0.0);
  for (int t = 0; t < n_q; ++t) {
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kv_heads);
      const int keys = pos0 + t + 1;
      const int first = window > 0 ? std::max(0, keys - window) : 0;
      std::vector<double> s(static_cast<size_t>(keys), 0.0);
      double mx = -1e300;
      for (int p = first; p < keys; ++p) {
        double d = 0;
        for (int i = 0; i < hd; ++i)
          d += double(q[size_t((t * heads + h) * hd + i)]) * k[size_t((p * kv_heads + g) * hd + i)];
        s[size_t(p)] = d / std::sqrt(double(hd));
        mx = std::max(mx, s[size_t(p)]);
      }
      double sum = 0;
      for (int p = first; p < keys; ++p) sum += (s[size_t(p)] = std::exp(s[size_t(p)] - mx));
      for (int p = first; p < keys; ++p)
        for (int i = 0; i < hd; ++i)
          out[size_t((t * heads + h) * hd + i)] +=
              s[size_t(p)] / sum * v[size_t((p * kv_heads + g) * hd + i)];
    }
  }
  return out;
}

TEST(CpuOps, GroupedQueryAttentionMatchesNaive) {
  struct Case {
    int heads, kv_heads, hd, n_q, pos0;
  };
  for (const Case c :
       {Case{4, 2, 16, 5, 0}, Case{6, 1, 8, 1, 9}, Case{4, 4, 32, 3, 4}, Case{8, 2, 16, 7, 0}}) {
    const int keys = c.pos0 + c.n_q;
    const auto q = random_floats(size_t(c.n_q * c.heads * c.hd), 5, 3.0f);
    const auto k = random_floats(size_t(keys * c.kv_heads * c.hd), 6, 3.0f);
    const auto v = random_floats(size_t(keys * c.kv_heads * c.hd), 7, 1.0f);
    std::vector<float> out(q.size());
    attention(q.data(), c.n_q, c.pos0, k.data(), v.data(), c.heads, c.kv_heads, c.hd, out.data());
    const auto ref = naive_attention(q, c.n_q, c.pos0, k, v, c.heads, c.kv_heads, c.hd);
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 2e-6) << "heads " << c.heads << "/" << c.kv_heads << " i " << i;
  }
}

TEST(CpuOps, SlidingWindowAttentionMatchesNaive) {
  struct Case {
    int heads, kv_heads, hd, n_q, pos0, window;
  };
  for (const Case c : {Case{4, 2, 16, 9, 0, 3}, Case{6, 1, 8, 1, 9, 4}, Case{4, 4, 32, 3, 4, 1},
                       Case{8, 2, 16, 7, 5, 6}}) {
    const int keys = c.pos0 + c.n_q;
    const auto q = random_floats(size_t(c.n_q * c.heads * c.hd), 15, 3.0f);
    const auto k = random_floats(size_t(keys * c.kv_heads * c.hd), 16, 3.0f);
    const auto v = random_floats(size_t(keys * c.kv_heads * c.hd), 17, 1.0f);
    std::vector<float> out(q.size()), full(q.size());
    attention(q.data(), c.n_q, c.pos0, k.data(), v.data(), c.heads, c.kv_heads, c.hd, out.data(),
              c.window);
    const auto ref = naive_attention(q, c.n_q, c.pos0, k, v, c.heads, c.kv_heads, c.hd, c.window);
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 2e-6) << "window " << c.window << " i " << i;
    // The window changes what the queries past it see, and nothing else.
    attention(q.data(), c.n_q, c.pos0, k.data(), v.data(), c.heads, c.kv_heads, c.hd, full.data());
    const size_t row = size_t(c.heads * c.hd);
    for (int t = 0; t < c.n_q; ++t) {
      const bool inside = c.pos0 + t < c.window;
      const bool same = std::equal(out.begin() + long(t * row), out.begin() + long((t + 1) * row),
                                   full.begin() + long(t * row));
      EXPECT_EQ(same, inside) << "window " << c.window << " position " << c.pos0 + t;
    }
  }
  EXPECT_EQ(first_key(0, 4), 0);
  EXPECT_EQ(first_key(3, 4), 0);
  EXPECT_EQ(first_key(4, 4), 1);
  EXPECT_EQ(first_key(100, 0), 0);
}

TEST(CpuOps, AttentionIsCausal) {
  // Changing a key/value after a query's position must not change that query's output.
  const int heads = 2, kv = 1, hd = 8, n = 4;
  const auto q = random_floats(size_t(n * heads * hd), 8, 1.0f);
  auto k = random_floats(size_t(n * kv * hd), 9, 1.0f);
  auto v = random_floats(size_t(n * kv * hd), 10, 1.0f);
  std::vector<float> a(q.size()), b(q.size());
  attention(q.data(), n, 0, k.data(), v.data(), heads, kv, hd, a.data());
  for (int i = 0; i < hd; ++i) {
    k[size_t(3 * hd + i)] += 5.0f;
    v[size_t(3 * hd + i)] -= 5.0f;
  }
  attention(q.data(), n, 0, k.data(), v.data(), heads, kv, hd, b.data());
  for (size_t i = 0; i < size_t(3 * heads * hd); ++i) EXPECT_EQ(a[i], b[i]);
  bool last_changed = false;
  for (size_t i = size_t(3 * heads * hd); i < a.size(); ++i) last_changed |= a[i] != b[i];
  EXPECT_TRUE(last_changed);
}

TEST(CpuOps, SwiGluMatchesDouble) {
  const auto g = random_floats(300, 11, 8.0f);
  const auto u = random_floats(300, 12, 2.0f);
  std::vector<float> y(300);
  swiglu(g.data(), u.data(), y.size(), y.data());
  for (size_t i = 0; i < y.size(); ++i) {
    const double ref = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
    EXPECT_NEAR(y[i], ref, 1e-6 * (1 + std::abs(ref)));
  }
}

TEST(CpuOps, EmbedAndAdd) {
  const auto table = random_floats(5 * 4, 13, 1.0f);
  const int32_t ids[] = {3, 0, 3};
  std::vector<float> out(12);
  embed_rows(table.data(), 4, ids, 3, out.data());
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[size_t(t * 4 + i)], table[size_t(ids[t] * 4 + i)]);
  std::vector<float> y = {1, 2, 3};
  const std::vector<float> x = {0.5f, -2, 10};
  add_inplace(y.data(), x.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{1.5f, 0, 13}));
}

TEST(CpuOps, ArgmaxTiesPickLowestId) {
  const std::vector<float> x = {1, 3, 2, 3, 3};
  EXPECT_EQ(argmax_row(x.data(), 5), 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> with_nan = {nan, -1, 4, nan, 4};
  EXPECT_EQ(argmax_row(with_nan.data(), 5), 2);
  const std::vector<float> single = {-7};
  EXPECT_EQ(argmax_row(single.data(), 1), 0);
}

}  // namespace
}  // namespace eco::engine::cpu
