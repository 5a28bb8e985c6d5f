// Kernel-level checks of the CUDA engine against small CPU references written here (double
// precision on the same fp16/bf16-rounded inputs). Every output is poisoned with NaN first and
// every element must come back finite and close; inputs are fresh random draws per case.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cuda_test_util.h"

namespace eco::engine::cuda::test {
namespace {

const float kNaN = std::nanf("");

struct GemvCase {
  DevType t;
  int m, n, k;
  GemvOut out;
  bool norm;
};

void run_gemv_case(const GemvCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  auto w = randn(size_t(c.n) * c.k, rng, 0.05f);
  round_all(w, c.t);
  std::vector<float> xt;     // T input rows as the kernel sees them (after norm + rounding)
  std::vector<float> resid;  // fp32 residual (norm input)
  std::vector<float> gamma, sumsq(size_t(c.m));
  if (c.norm) {
    resid = randn(size_t(c.m) * c.k, rng, 2.0f);
    gamma = randn(size_t(c.k), rng, 1.0f);
    round_all(gamma, c.t);
    xt.resize(resid.size());
    for (int b = 0; b < c.m; ++b) {
      double ss = 0;
      for (int j = 0; j < c.k; ++j)
        ss += double(resid[size_t(b) * c.k + j]) * resid[size_t(b) * c.k + j];
      sumsq[size_t(b)] = float(ss);
      const float inv = 1.0f / std::sqrt(float(ss) / float(c.k) + 1e-5f);
      for (int j = 0; j < c.k; ++j)
        xt[size_t(b) * c.k + j] = round_t(resid[size_t(b) * c.k + j] * inv * gamma[size_t(j)], c.t);
    }
  } else {
    xt = randn(size_t(c.m) * c.k, rng, 1.0f);
    round_all(xt, c.t);
  }
  std::vector<double> dot(size_t(c.m) * c.n);
  for (int b = 0; b < c.m; ++b)
    for (int r = 0; r < c.n; ++r) {
      double s = 0;
      for (int j = 0; j < c.k; ++j) s += double(w[size_t(r) * c.k + j]) * xt[size_t(b) * c.k + j];
      dot[size_t(b) * c.n + r] = s;
    }

  DeviceBuffer dw = upload_t(w, c.t);
  DeviceBuffer dx = upload_t(c.norm ? std::vector<float>(1) : xt, c.t);
  DeviceBuffer dres = upload_raw(c.norm ? resid : std::vector<float>(1));
  DeviceBuffer dgam = upload_t(c.norm ? gamma : std::vector<float>(1), c.t);
  DeviceBuffer dss = upload_raw(sumsq);
  GemvArgs a;
  a.w = dw.get();
  a.n = c.n;
  a.k = c.k;
  a.m = c.m;
  a.in.ldx = c.k;
  if (c.norm) {
    a.in.xf = dres.as<float>();
    a.in.rms_gamma = dgam.get();
    a.in.sumsq_in = dss.as<float>();
    a.in.eps = 1e-5f;
  } else {
    a.in.x = dx.get();
  }
  a.out.kind = c.out;
  const std::string what =
      ::testing::PrintToString(std::vector<int>{int(c.t), c.m, c.n, c.k, int(c.out), c.norm});
  switch (c.out) {
    case GemvOut::StoreT: {
      DeviceBuffer y(size_t(c.m) * c.n * 2, "y");
      launch_fill(c.t, y.get(), int64_t(c.m) * c.n, kNaN, nullptr);
      a.out.y = y.get();
      a.out.ldy = c.n;
      launch_gemv(c.t, a, nullptr, "test");
      EXPECT_LT(rel_err(download_t(y, dot.size(), c.t), dot), 1e-2) << what;
      break;
    }
    case GemvOut::StoreF32: {
      DeviceBuffer y(size_t(c.m) * c.n * 4, "y");
      launch_fill_f32(y.as<float>(), int64_t(c.m) * c.n, kNaN, nullptr);
      a.out.y = y.get();
      a.out.ldy = c.n;
      launch_gemv(c.t, a, nullptr, "test");
      EXPECT_LT(rel_err(download_raw<float>(y, dot.size()), dot), 5e-3) << what;
      break;
    }
    case GemvOut::AddResidual: {
      auto r0 = randn(size_t(c.m) * c.n, rng, 1.0f);
      DeviceBuffer y = upload_raw(r0);
      DeviceBuffer so = upload_raw(std::vector<float>(size_t(c.m), 0.0f));
      a.out.y = y.get();
      a.out.ldy = c.n;
      a.out.sumsq_out = so.as<float>();
      launch_gemv(c.t, a, nullptr, "test");
      std::vector<double> want(dot.size()), want_ss(size_t(c.m), 0.0);
      for (size_t i = 0; i < dot.size(); ++i) {
        want[i] = r0[i] + dot[i];
        want_ss[i / size_t(c.n)] += want[i] * want[i];
      }
      EXPECT_LT(rel_err(download_raw<float>(y, want.size()), want), 5e-3) << what;
      EXPECT_LT(rel_err(download_raw<float>(so, want_ss.size()), want_ss), 5e-3) << what;
      break;
    }
    case GemvOut::SwiGLU: {
      const int inter = c.n / 2;
      DeviceBuffer y(size_t(c.m) * inter * 2, "act");
      launch_fill(c.t, y.get(), int64_t(c.m) * inter, kNaN, nullptr);
      a.out.y = y.get();
      a.out.ldy = inter;
      launch_gemv(c.t, a, nullptr, "test");
      std::vector<double> want(size_t(c.m) * inter);
      for (int b = 0; b < c.m; ++b)
        for (int i = 0; i < inter; ++i) {
          const int gr = (i / 8) * 16 + i % 8;
          const double g = dot[size_t(b) * c.n + gr], u = dot[size_t(b) * c.n + gr + 8];
          want[size_t(b) * inter + i] = g / (1.0 + std::exp(-g)) * u;
        }
      EXPECT_LT(rel_err(download_t(y, want.size(), c.t), want), 1e-2) << what;
      break;
    }
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaGemv, MatchesReferenceForEveryBatchModeAndType) {
  ECO_REQUIRE_GPU();
  uint32_t seed = 1;
  for (DevType t : {DevType::F16, DevType::BF16})
    for (int m : {1, 2, 5, 8, 9, 16}) {
      // k not a multiple of 32 and n not of 16 exercise the tails.
      run_gemv_case({t, m, 72, 200, GemvOut::StoreT, false}, seed++);
      run_gemv_case({t, m, 100, 256, GemvOut::StoreF32, true}, seed++);
      run_gemv_case({t, m, 64, 1096, GemvOut::AddResidual, false}, seed++);
      run_gemv_case({t, m, 96, 136, GemvOut::SwiGLU, true}, seed++);
    }
}

TEST(CudaGemv, RejectsUnsupportedShapes) {
  ECO_REQUIRE_GPU();
  GemvArgs a;
  a.m = 17;
  a.n = 16;
  a.k = 16;
  a.in.ldx = 16;
  EXPECT_THROW(launch_gemv(DevType::F16, a, nullptr, "test"), eco::Error);
}

TEST(CudaBlas, GemmMatchesReferenceWithResidualAccumulation) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(7);
  Blas blas;
  for (DevType t : {DevType::F16, DevType::BF16}) {
    const int m = 37, n = 80, k = 96;
    auto w = randn(size_t(n) * k, rng, 0.1f), x = randn(size_t(m) * k, rng, 1.0f),
         r0 = randn(size_t(m) * n, rng, 1.0f);
    round_all(w, t);
    round_all(x, t);
    DeviceBuffer dw = upload_t(w, t), dx = upload_t(x, t), dy = upload_raw(r0);
    blas.gemm(t, m, n, k, dx.get(), dw.get(), dy.get(), true, 1.0f, "test");
    std::vector<double> want(size_t(m) * n);
    for (int b = 0; b < m; ++b)
      for (int r = 0; r < n; ++r) {
        double s = r0[size_t(b) * n + r];
        for (int j = 0; j < k; ++j) s += double(w[size_t(r) * k + j]) * x[size_t(b) * k + j];
        want[size_t(b) * n + r] = s;
      }
    EXPECT_LT(rel_err(download_raw<float>(dy, want.size()), want), 5e-3);
  }
}

TEST(CudaRmsnorm, MatchesReferenceWithRowGather) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (DevType t : {DevType::F16, DevType::BF16}) {
    const int rows = 6, h = 200;
    auto x = randn(size_t(rows) * h, rng, 3.0f), g = randn(size_t(h), rng, 1.0f);
    round_all(g, t);
    const std::vector<int> pick = {5, 0, 3};
    DeviceBuffer dx = upload_raw(x), dg = upload_t(g, t), dr = upload_raw(pick);
    DeviceBuffer out(pick.size() * h * 2, "out");
    launch_fill(t, out.get(), int64_t(pick.size()) * h, kNaN, nullptr);
    launch_rmsnorm(t, dx.as<float>(), h, dr.as<int>(), int(pick.size()), h, dg.get(), 1e-6f,
                   out.get(), nullptr, "test");
    std::vector<double> want;
    for (int r : pick) {
      double ss = 0;
      for (int j = 0; j < h; ++j) ss += double(x[size_t(r) * h + j]) * x[size_t(r) * h + j];
      const double inv = 1.0 / std::sqrt(ss / h + 1e-6);
      for (int j = 0; j < h; ++j) want.push_back(x[size_t(r) * h + j] * inv * g[size_t(j)]);
    }
    EXPECT_LT(rel_err(download_t(out, want.size(), t), want), 1e-2);
  }
}

TEST(CudaEmbedding, GathersRowsAndStartsNormSums) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(13);
  const DevType t = DevType::F16;
  const int vocab = 50, h = 72, m = 4, slots = 5, ld = 16;
  auto table = randn(size_t(vocab) * h, rng, 1.0f);
  round_all(table, t);
  const std::vector<int> toks = {7, 49, 0, 7};
  DeviceBuffer dt = upload_t(table, t), dk = upload_raw(toks);
  DeviceBuffer resid(size_t(m) * h * 4, "resid"), ss(size_t(slots) * ld * 4, "sumsq");
  launch_fill_f32(resid.as<float>(), int64_t(m) * h, kNaN, nullptr);
  launch_fill_f32(ss.as<float>(), int64_t(slots) * ld, kNaN, nullptr);
  launch_embedding(t, dt.get(), vocab, h, dk.as<int>(), m, resid.as<float>(), ss.as<float>(), slots,
                   ld, nullptr, "test");
  auto r = download_raw<float>(resid, size_t(m) * h);
  auto s = download_raw<float>(ss, size_t(slots) * ld);
  for (int i = 0; i < m; ++i) {
    double want_ss = 0;
    for (int j = 0; j < h; ++j) {
      const float v = table[size_t(toks[size_t(i)]) * h + j];
      ASSERT_EQ(r[size_t(i) * h + j], v);
      want_ss += double(v) * v;
    }
    EXPECT_NEAR(s[size_t(i)], want_ss, 1e-3 * want_ss);
    for (int sl = 1; sl < slots; ++sl) EXPECT_EQ(s[size_t(sl) * ld + i], 0.0f);
  }
}

TEST(CudaArgmax, LowestIdOnTiesIgnoresNaNAndAdvances) {
  ECO_REQUIRE_GPU();
  const int m = 3, vocab = 3000;
  std::mt19937 rng(17);
  auto logits = randn(size_t(m) * vocab, rng, 1.0f);
  logits[0 * vocab + 2500] = 50.0f;  // row 0: clear winner late in the row
  logits[1 * vocab + 1234] = 60.0f;  // row 1: tie, lower id wins
  logits[1 * vocab + 2000] = 60.0f;
  logits[1 * vocab + 10] = kNaN;
  logits[2 * vocab + 0] = 70.0f;  // row 2: first element
  DeviceBuffer dl = upload_raw(logits), next(size_t(m) * 4, "next");
  DeviceBuffer hist = upload_raw(std::vector<int>(size_t(4 * m), -1));
  DeviceBuffer base = upload_raw(std::vector<int>{10, 20, 30});
  DeviceBuffer pos = upload_raw(std::vector<int>{11, 20, 30});
  launch_argmax(dl.as<float>(), m, vocab, next.as<int>(), hist.as<int>(), 4, base.as<int>(),
                pos.as<int>(), true, nullptr, "test");
  EXPECT_EQ(download_raw<int>(next, m), (std::vector<int>{2500, 1234, 0}));
  EXPECT_EQ(download_raw<int>(pos, m), (std::vector<int>{12, 21, 31}));
  auto h = download_raw<int>(hist, size_t(4 * m));
  EXPECT_EQ(h[size_t(2 * m + 0)], 2500);  // pos 11 - base 10 + 1 = step 2
  EXPECT_EQ(h[size_t(1 * m + 1)], 1234);
  EXPECT_EQ(h[size_t(1 * m + 2)], 0);
}

// Rotary embedding + cache write, then attention over the cache, for ragged sequences, with
// full causal attention and with a sliding window shorter than both sequences.
TEST(CudaAttention, RopeAndCausalGqaMatchReferenceForAnySplitCount) {
  ECO_REQUIRE_GPU();
  for (DevType t : {DevType::F16, DevType::BF16})
    for (int d : {32, 96, 128})
      for (int splits : {1, 3, 8})
        for (int window : {0, 7}) {
          std::mt19937 rng(uint32_t(100 + d + splits + int(t) + window));
          const int nh = 8, nkv = 2, ctx = 40, seqs = 2;
          const std::vector<int> lens = {17, 33};
          // Every position of both sequences goes through rope (a prefill), then attention is
          // checked for every token.
          std::vector<int> tseq, tpos;
          for (int s = 0; s < seqs; ++s)
            for (int p = 0; p < lens[size_t(s)]; ++p) {
              tseq.push_back(s);
              tpos.push_back(p);
            }
          const int m = int(tseq.size()), width = (nh + 2 * nkv) * d;
          auto qkv = randn(size_t(m) * width, rng, 1.0f);
          round_all(qkv, t);
          auto bias = randn(size_t(width), rng, 0.5f);
          round_all(bias, t);
          std::vector<float> inv(size_t(d / 2));
          for (int j = 0; j < d / 2; ++j)
            inv[size_t(j)] = float(1.0 / std::pow(10000.0, 2.0 * j / d));
          DeviceBuffer dqkv = upload_t(qkv, t), db = upload_t(bias, t), dinv = upload_raw(inv);
          DeviceBuffer ds = upload_raw(tseq), dp = upload_raw(tpos);
          DeviceBuffer q(size_t(m) * nh * d * 2, "q"), kc(size_t(seqs) * nkv * ctx * d * 2, "k"),
              vc(kc.bytes(), "v");
          DeviceBuffer out(size_t(m) * nh * d * 2, "out");
          launch_fill(t, out.get(), int64_t(m) * nh * d, kNaN, nullptr);
          RopeArgs ra{dqkv.get(),
                      db.get(),
                      ds.as<int>(),
                      dp.as<int>(),
                      dinv.as<float>(),
                      q.get(),
                      kc.get(),
                      vc.get(),
                      m,
                      nh,
                      nkv,
                      d,
                      ctx};
          launch_rope_kv(t, ra, nullptr, "test");
          DeviceBuffer part(attention_partial_floats(m, nh, d, splits) * 4, "partial");
          DeviceBuffer cnt = upload_raw(std::vector<int>(size_t(m) * nkv, 0));
          AttnArgs aa{
              q.get(), kc.get(), vc.get(), ds.as<int>(), dp.as<int>(),     out.get(),     m,     nh,
              nkv,     d,        ctx,      splits,       part.as<float>(), cnt.as<int>(), window};
          launch_attention(t, aa, nullptr, "test");
          // Reference: rotated q/k (rounded to T as stored), v rounded, softmax attention.
          auto rot = [&](int i, int col0, int j, bool second) {
            const double x0 =
                double(round_t(qkv[size_t(i) * width + col0 + j], t)) + bias[size_t(col0 + j)];
            const double x1 =
                double(qkv[size_t(i) * width + col0 + j + d / 2]) + bias[size_t(col0 + j + d / 2)];
            const double a = double(float(tpos[size_t(i)]) * inv[size_t(j)]);
            return round_t(float(second ? x1 * std::cos(a) + x0 * std::sin(a)
                                        : x0 * std::cos(a) - x1 * std::sin(a)),
                           t);
          };
          std::vector<double> want(size_t(m) * nh * d);
          for (int i = 0; i < m; ++i) {
            const int s = tseq[size_t(i)], first = i - tpos[size_t(i)];
            // Oldest key the query sees: keys before it are masked by the window.
            const int j0 = window > 0 ? std::max(0, tpos[size_t(i)] - window + 1) : 0;
            for (int h = 0; h < nh; ++h) {
              const int kh = h / (nh / nkv);
              std::vector<double> sc(size_t(tpos[size_t(i)] + 1), 0.0);
              double mx = -1e300;
              for (int j = j0; j <= tpos[size_t(i)]; ++j) {
                double dotv = 0;
                for (int e = 0; e < d / 2; ++e) {
                  dotv += double(rot(i, h * d, e, false)) * rot(first + j, (nh + kh) * d, e, false);
                  dotv += double(rot(i, h * d, e, true)) * rot(first + j, (nh + kh) * d, e, true);
                }
                sc[size_t(j)] = dotv / std::sqrt(double(d));
                mx = std::max(mx, sc[size_t(j)]);
              }
              double den = 0;
              for (int j = j0; j <= tpos[size_t(i)]; ++j)
                den += (sc[size_t(j)] = std::exp(sc[size_t(j)] - mx));
              for (int e = 0; e < d; ++e) {
                double o = 0;
                for (int j = j0; j <= tpos[size_t(i)]; ++j) {
                  const int col = (nh + nkv + kh) * d + e;
                  o += sc[size_t(j)] *
                       round_t(qkv[size_t(first + j) * width + col] + bias[size_t(col)], t);
                }
                want[(size_t(i) * nh + h) * d + e] = o / den;
              }
            }
            (void)s;
          }
          EXPECT_LT(rel_err(download_t(out, want.size(), t), want), 1.5e-2)
              << "d=" << d << " splits=" << splits << " t=" << int(t) << " window=" << window;
          // The tickets are left at zero for the next launch (graph replay relies on it).
          for (int v : download_raw<int>(cnt, size_t(m) * nkv)) ASSERT_EQ(v, 0);
        }
}

TEST(CudaElementwise, ConvertRowsInterleavesAndConverts) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(19);
  const int rows = 16, cols = 24;
  auto src = randn(size_t(rows) * cols, rng, 1.0f);
  DeviceBuffer ds = upload_raw(src), dst(size_t(2 * rows) * cols * 2, "dst");
  launch_fill(DevType::BF16, dst.get(), int64_t(2 * rows) * cols, kNaN, nullptr);
  launch_convert_rows(SrcType::F32, ds.get(), rows, cols, DevType::BF16, dst.get(), 8, 16, 8,
                      nullptr, "test");
  auto got = download_t(dst, size_t(2 * rows) * cols, DevType::BF16);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      ASSERT_EQ(got[size_t((r / 8) * 16 + 8 + r % 8) * cols + c],
                round_t(src[size_t(r) * cols + c], DevType::BF16));
}

}  // namespace
}  // namespace eco::engine::cuda::test

namespace eco::engine::cuda::test {
namespace {

TEST(CudaElementwise, SwigluOnInterleavedGemmOutputInBothPrecisions) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(23);
  const int m = 3, inter = 40;
  for (bool f32 : {true, false}) {
    auto gu = randn(size_t(m) * 2 * inter, rng, 2.0f);
    if (!f32) round_all(gu, DevType::F16);
    DeviceBuffer dg = f32 ? upload_raw(gu) : upload_t(gu, DevType::F16);
    DeviceBuffer act(size_t(m) * inter * 2, "act");
    launch_fill(DevType::F16, act.get(), int64_t(m) * inter, std::nanf(""), nullptr);
    launch_swiglu_interleaved(DevType::F16, dg.get(), f32, m, inter, act.get(), nullptr, "test");
    std::vector<double> want;
    for (int r = 0; r < m; ++r)
      for (int i = 0; i < inter; ++i) {
        const double g = gu[size_t(r) * 2 * inter + (i / 8) * 16 + i % 8];
        const double u = gu[size_t(r) * 2 * inter + (i / 8) * 16 + 8 + i % 8];
        want.push_back(g / (1 + std::exp(-g)) * u);
      }
    EXPECT_LT(rel_err(download_t(act, want.size(), DevType::F16), want), 2e-3) << f32;
  }
}

}  // namespace
}  // namespace eco::engine::cuda::test
