// The kernels around the rotary embedding that model/rope.h feeds: Qwen3's per-head q/k norm
// (with the bias it adds first), the device-side choice of a RoPE table from the step's
// positions, and the rotation with a chosen table and attention scaling; and the o_proj bias
// added to residual rows.
#include <cmath>

#include "cuda_test_util.h"

namespace eco::engine::cuda::test {
namespace {

constexpr float kNaN = NAN;

TEST(CudaQkNorm, MatchesHostReferenceWithBias) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(21);
  for (DevType t : {DevType::F16, DevType::BF16})
    for (int d : {64, 128, 256})
      for (bool with_bias : {false, true}) {
        const int m = 5, nh = 4, nkv = 2, width = (nh + 2 * nkv) * d;
        auto x = randn(size_t(m) * width, rng, 2.0f);
        round_all(x, t);
        auto bias = randn(size_t(width), rng, 0.5f);
        round_all(bias, t);
        auto qg = randn(size_t(d), rng, 0.3f), kg = randn(size_t(d), rng, 0.3f);
        for (auto& g : qg) g += 1.0f;
        for (auto& g : kg) g += 1.0f;
        round_all(qg, t);
        round_all(kg, t);
        DeviceBuffer dx = upload_t(x, t), db = upload_t(bias, t), dq = upload_t(qg, t),
                     dk = upload_t(kg, t);
        launch_qk_norm(t, dx.get(), with_bias ? db.get() : nullptr, dq.get(), dk.get(), 1e-6f, m,
                       nh, nkv, d, nullptr, "test");
        std::vector<double> want(x.size());
        for (int i = 0; i < m; ++i)
          for (int h = 0; h < nh + 2 * nkv; ++h) {
            const size_t o = size_t(i) * width + size_t(h) * d;
            double ss = 0;
            for (int j = 0; j < d; ++j) {
              want[o + j] = double(x[o + j]) + (with_bias ? bias[size_t(h) * d + j] : 0.0);
              ss += want[o + j] * want[o + j];
            }
            if (h >= nh + nkv) continue;  // v: bias only
            const double inv = 1.0 / std::sqrt(ss / d + 1e-6);
            const auto& g = h < nh ? qg : kg;
            for (int j = 0; j < d; ++j) want[o + j] *= inv * g[size_t(j)];
          }
        EXPECT_LT(rel_err(download_t(dx, x.size(), t), want), t == DevType::F16 ? 2e-3 : 1e-2)
            << "d " << d << " bias " << with_bias;
      }
}

TEST(CudaRope, SelectedTableAndScalingRotateAsTheHostSays) {
  ECO_REQUIRE_GPU();
  const int m = 3, nh = 2, nkv = 1, d = 32, ctx = 24, tables = 5, threshold = 16;
  const std::vector<int> pos = {3, 17, 9}, seq = {0, 1, 2};  // longest: 18 positions
  DeviceBuffer dpos = upload_raw(pos), dseq = upload_raw(seq), index(4, "index");
  launch_rope_select(dpos.as<int>(), m, threshold, tables, index.as<int>(), nullptr, "test");
  EXPECT_EQ(download_raw<int>(index, 1)[0], 2);  // clamp(18 - 16, 0, 4)
  launch_rope_select(dpos.as<int>(), m, threshold, 2, index.as<int>(), nullptr, "test");
  EXPECT_EQ(download_raw<int>(index, 1)[0], 1);
  launch_rope_select(dpos.as<int>(), m, 20, tables, index.as<int>(), nullptr, "test");
  EXPECT_EQ(download_raw<int>(index, 1)[0], 0);
  launch_rope_select(dpos.as<int>(), m, threshold, tables, index.as<int>(), nullptr, "test");

  std::mt19937 rng(5);
  const DevType t = DevType::F16;
  const int width = (nh + 2 * nkv) * d;
  auto qkv = randn(size_t(m) * width, rng, 1.0f);
  round_all(qkv, t);
  std::vector<float> inv(size_t(tables) * d / 2), scaling(static_cast<size_t>(tables));
  for (int k = 0; k < tables; ++k) {
    scaling[size_t(k)] = 1.0f + 0.1f * k;
    for (int j = 0; j < d / 2; ++j)
      inv[size_t(k) * d / 2 + j] = float(std::pow(10000.0 + 5000.0 * k, -2.0 * j / d));
  }
  DeviceBuffer dqkv = upload_t(qkv, t), dinv = upload_raw(inv), dsc = upload_raw(scaling);
  DeviceBuffer q(size_t(m) * nh * d * 2, "q"), kc(size_t(m) * nkv * ctx * d * 2, "k"),
      vc(kc.bytes(), "v");
  launch_fill(t, q.get(), int64_t(m) * nh * d, kNaN, nullptr);
  RopeArgs ra;
  ra.qkv = dqkv.get();
  ra.tok_seq = dseq.as<int>();
  ra.tok_pos = dpos.as<int>();
  ra.inv_freq = dinv.as<float>();
  ra.scaling = dsc.as<float>();
  ra.table_index = index.as<int>();
  ra.q_out = q.get();
  ra.k_cache = kc.get();
  ra.v_cache = vc.get();
  ra.m = m;
  ra.nh = nh;
  ra.nkv = nkv;
  ra.d = d;
  ra.ctx = ctx;
  launch_rope_kv(t, ra, nullptr, "test");
  std::vector<double> want;
  for (int i = 0; i < m; ++i)
    for (int h = 0; h < nh; ++h)
      for (int j = 0; j < d; ++j) {
        const int jj = j % (d / 2);
        const double a = double(float(pos[size_t(i)]) * inv[size_t(2) * d / 2 + jj]);
        const double c = std::cos(a) * scaling[2], s = std::sin(a) * scaling[2];
        const size_t o = size_t(i) * width + size_t(h) * d;
        const double x0 = qkv[o + jj], x1 = qkv[o + jj + d / 2];
        want.push_back(j < d / 2 ? x0 * c - x1 * s : x1 * c + x0 * s);
      }
  EXPECT_LT(rel_err(download_t(q, want.size(), t), want), 2e-3);
}

TEST(CudaBias, AddsTheBiasToEveryResidualRow) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(8);
  for (DevType t : {DevType::F16, DevType::BF16}) {
    const int m = 7, n = 40, ld = 48;  // rows wider than n: columns past n stay as they were
    auto y = randn(size_t(m) * ld, rng, 1.0f), bias = randn(size_t(n), rng, 0.5f);
    round_all(bias, t);
    DeviceBuffer dy = upload_raw(y), db = upload_t(bias, t);
    launch_add_bias_rows(t, dy.as<float>(), ld, db.get(), m, n, nullptr, "test");
    const auto got = download_raw<float>(dy, y.size());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < ld; ++j) {
        const size_t k = size_t(i) * ld + j;
        EXPECT_EQ(got[k], j < n ? y[k] + bias[size_t(j)] : y[k]) << i << "," << j;
      }
  }
}

}  // namespace
}  // namespace eco::engine::cuda::test
