// Flash-decoding attention at decode shapes against a double-precision reference written here:
// random K/V caches (no RoPE: rope_kernels_test and kernels_test cover the cache writes), one
// query per sequence, outputs poisoned with NaN before every launch.
#include <algorithm>
#include <cmath>

#include "cuda_test_util.h"
#include "engine/cuda/launch_plan.h"

namespace eco::engine::cuda::test {
namespace {

const float kNaN = std::nanf("");

// Decode-shaped attention straight over random caches: one query per sequence at positions far
// apart, every GQA ratio 1..8 and head_dim 64..256, split counts from 1 to the most the merge
// takes. With whole rounds of keys per split, a long sequence activates many splits (up to 50
// at 200 keys and d 256) and a short one few or one; each launch runs twice (a replayed graph
// relies on the tickets being reset).
TEST(CudaAttention, DecodeSplitsMatchReferenceAtLongContexts) {
  ECO_REQUIRE_GPU();
  struct Shape {
    int nh, nkv, d;
  };
  const Shape shapes[] = {{32, 8, 128}, {8, 1, 64}, {4, 4, 256}, {12, 6, 96}, {16, 2, 128}};
  const std::vector<int> pos = {199, 44, 3};  // one query per sequence, at these positions
  const int seqs = int(pos.size()), ctx = 208;
  uint32_t seed = 900;
  for (DevType t : {DevType::F16, DevType::BF16})
    for (const Shape& sh : shapes)
      for (int splits : {1, 7, 32, kAttnMaxSplits})
        for (int window : {0, 50}) {
          std::mt19937 rng(seed++);
          const int m = seqs, d = sh.d, nh = sh.nh, nkv = sh.nkv;
          auto q = randn(size_t(m) * nh * d, rng, 1.0f);
          auto kc = randn(size_t(seqs) * nkv * ctx * d, rng, 1.0f);
          auto vc = randn(kc.size(), rng, 1.0f);
          round_all(q, t);
          round_all(kc, t);
          round_all(vc, t);
          std::vector<int> tseq(static_cast<size_t>(m));
          for (int i = 0; i < m; ++i) tseq[size_t(i)] = i;
          DeviceBuffer dq = upload_t(q, t), dk = upload_t(kc, t), dv = upload_t(vc, t);
          DeviceBuffer ds = upload_raw(tseq), dp = upload_raw(pos);
          DeviceBuffer out(size_t(m) * nh * d * 2, "out");
          DeviceBuffer part(attention_partial_floats(m, nh, d, splits) * 4, "partial");
          DeviceBuffer cnt = upload_raw(std::vector<int>(size_t(m) * nkv, 0));
          AttnArgs aa{
              dq.get(), dk.get(), dv.get(), ds.as<int>(),     dp.as<int>(),  out.get(), m, nh, nkv,
              d,        ctx,      splits,   part.as<float>(), cnt.as<int>(), window};
          std::vector<double> want(size_t(m) * nh * d);
          for (int i = 0; i < m; ++i) {
            const int p = pos[size_t(i)], j0 = window > 0 ? std::max(0, p - window + 1) : 0;
            for (int h = 0; h < nh; ++h) {
              const int kh = h / (nh / nkv);
              const size_t base = (size_t(i) * nkv + kh) * ctx * d;
              std::vector<double> sc;
              double mx = -1e300;
              for (int j = j0; j <= p; ++j) {
                double dot = 0;
                for (int e = 0; e < d; ++e)
                  dot += double(q[(size_t(i) * nh + h) * d + e]) * kc[base + size_t(j) * d + e];
                sc.push_back(dot / std::sqrt(double(d)));
                mx = std::max(mx, sc.back());
              }
              double den = 0;
              for (double& x : sc) den += (x = std::exp(x - mx));
              for (int e = 0; e < d; ++e) {
                double o = 0;
                for (int j = j0; j <= p; ++j)
                  o += sc[size_t(j - j0)] * vc[base + size_t(j) * d + e];
                want[(size_t(i) * nh + h) * d + e] = o / den;
              }
            }
          }
          for (int rep = 0; rep < 2; ++rep) {
            launch_fill(t, out.get(), int64_t(m) * nh * d, kNaN, nullptr);
            launch_attention(t, aa, nullptr, "test");
            EXPECT_LT(rel_err(download_t(out, want.size(), t), want), 1.5e-2)
                << "nh=" << nh << " nkv=" << nkv << " d=" << d << " splits=" << splits
                << " window=" << window << " t=" << int(t) << " rep=" << rep;
            for (int v : download_raw<int>(cnt, size_t(m) * nkv)) ASSERT_EQ(v, 0);
          }
        }
}

TEST(CudaAttention, RejectsMoreSplitsThanTheMergeTakes) {
  ECO_REQUIRE_GPU();
  DeviceBuffer part(4096, "partial"), cnt(64, "counters");
  AttnArgs aa;
  aa.m = 1;
  aa.nh = 8;
  aa.nkv = 8;
  aa.d = 64;
  aa.splits = kAttnMaxSplits + 1;
  aa.partial = part.as<float>();
  aa.counters = cnt.as<int>();
  EXPECT_THROW(launch_attention(DevType::F16, aa, nullptr, "test"), eco::Error);
}

}  // namespace
}  // namespace eco::engine::cuda::test
