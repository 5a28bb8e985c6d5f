// The quantized formats' CUDA kernels against the CPU reference quantizers of src/quant/:
// quantized bytes identical (fresh random weights with planted outliers, all-zero rows and
// blocks, fp16/bf16/fp32 sources, interleaved rows), matmuls within relative error 1e-2 of
// quant::linear_forward on the same quantized weights, fused and reference-bnb LLM.int8()
// equal within fp16 rounding. Outputs are poisoned with NaN before every launch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "engine/cuda/quant_kernels.h"
#include "engine/cuda/quant_linear.h"
#include "quant/quantized_matrix.h"

namespace eco::engine::cuda::test {
namespace {

const float kNaN = std::nanf("");

// Random weights with a few large values, one all-zero row and one all-zero 64-block.
std::vector<float> planted_weights(int n, int k, std::mt19937& rng) {
  auto w = randn(size_t(n) * k, rng, 0.02f);
  std::uniform_int_distribution<int> pick(0, n * k - 1);
  for (int i = 0; i < 8; ++i) w[size_t(pick(rng))] = (i % 2 ? -1.0f : 1.0f) * (0.5f + float(i));
  std::fill(w.begin() + 2 * k, w.begin() + 3 * k, 0.0f);
  if (n * k >= 64 * 7) std::fill(w.begin() + 64 * 5, w.begin() + 64 * 6, 0.0f);
  return w;
}

// A host tensor in dtype `st` plus the exact fp32 values it holds.
struct HostTensor {
  std::vector<uint8_t> bytes;
  std::vector<float> exact;
  model::TensorView view;
};
HostTensor make_tensor(const std::vector<float>& w, int64_t rows, int64_t cols, model::DType dt) {
  HostTensor h;
  h.exact.resize(w.size());
  const size_t es = dt == model::DType::F32 ? 4 : 2;
  h.bytes.resize(w.size() * es);
  for (size_t i = 0; i < w.size(); ++i) {
    if (dt == model::DType::F32) {
      std::memcpy(&h.bytes[i * 4], &w[i], 4);
      h.exact[i] = w[i];
    } else {
      const uint16_t b = dt == model::DType::F16 ? float_to_half(w[i]) : float_to_bf16(w[i]);
      std::memcpy(&h.bytes[i * 2], &b, 2);
      h.exact[i] = dt == model::DType::F16 ? half_to_float(b) : bf16_to_float(b);
    }
  }
  h.view.name = "test";
  h.view.file = "memory";
  h.view.dtype = dt;
  h.view.shape = {rows, cols};
  h.view.data = reinterpret_cast<const std::byte*>(h.bytes.data());
  h.view.nbytes = h.bytes.size();
  return h;
}

template <typename U>
std::vector<U> dl(const DeviceBuffer& b, size_t n) {
  return download_raw<U>(b, n);
}

void expect_same_bytes(const LinearWeight& lw, const quant::QuantizedMatrix& m,
                       const std::string& what) {
  const QuantWeight& q = *lw.qweight;
  EXPECT_EQ(q.bytes(), m.bytes()) << what;
  EXPECT_EQ(dl<uint8_t>(q.data, m.data.size()), m.data) << what << " codes";
  if (m.format == quant::WeightFormat::Int8) {
    EXPECT_EQ(dl<float>(q.absmax, m.row_absmax.size()), m.row_absmax) << what << " row absmax";
  } else if (m.format == quant::WeightFormat::NF4) {
    EXPECT_EQ(dl<float>(q.absmax, m.block_absmax.size()), m.block_absmax) << what << " absmax";
  } else {
    EXPECT_EQ(dl<uint8_t>(q.codes, m.absmax_codes.size()), m.absmax_codes)
        << what << " absmax codes";
    EXPECT_EQ(dl<float>(q.scales, m.absmax_scales.size()), m.absmax_scales) << what << " dq scales";
    EXPECT_EQ(dl<float>(q.offset, 1)[0], m.absmax_offset) << what << " dq offset";
  }
}

TEST(CudaQuant, QuantizedBytesEqualTheCpuReference) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(1234);
  struct Shape {
    int n, k;
  };
  for (const char* f : {"int8", "int8-pure", "nf4", "nf4-dq"}) {
    for (Shape s : {Shape{48, 256}, Shape{40, 96}, Shape{300, 1024}}) {
      for (model::DType dt : {model::DType::F16, model::DType::BF16, model::DType::F32}) {
        const std::string what = fmt::format("{} {}x{} dtype {}", f, s.n, s.k, int(dt));
        const auto spec = quant::parse_format(f);
        const HostTensor h = make_tensor(planted_weights(s.n, s.k, rng), s.n, s.k, dt);
        LinearWeight lw;
        upload_quant_linear(lw, s.n, s.k, spec, {{&h.view, {}}}, nullptr, what);
        expect_same_bytes(lw, quant::quantize_matrix(h.exact.data(), s.n, s.k, spec), what);
      }
    }
  }
}

TEST(CudaQuant, InterleavedRowsQuantizeAsTheAssembledMatrix) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(99);
  const int n = 64, k = 128;  // gate and up of 32 rows each, interleaved by 8 as on the engine
  for (const char* f : {"int8", "nf4", "nf4-dq"}) {
    const auto spec = quant::parse_format(f);
    const HostTensor gate =
        make_tensor(planted_weights(n / 2, k, rng), n / 2, k, model::DType::F16);
    const HostTensor up = make_tensor(planted_weights(n / 2, k, rng), n / 2, k, model::DType::F16);
    std::vector<float> assembled(size_t(n) * k);
    for (int r = 0; r < n / 2; ++r) {
      const int dg = (r / 8) * 16 + r % 8, du = dg + 8;
      std::copy_n(gate.exact.begin() + r * k, k, assembled.begin() + dg * k);
      std::copy_n(up.exact.begin() + r * k, k, assembled.begin() + du * k);
    }
    LinearWeight lw;
    upload_quant_linear(lw, n, k, spec, {{&gate.view, {8, 16, 0}}, {&up.view, {8, 16, 8}}}, nullptr,
                        f);
    expect_same_bytes(lw, quant::quantize_matrix(assembled.data(), n, k, spec), f);
  }
}

struct MatmulSetup {
  HostTensor w;
  LinearWeight lw;
  quant::QuantizedMatrix ref;
};

// x: fp16-rounded inputs with `outlier_cols` columns of magnitude ~10 in some rows.
std::vector<float> make_x(int m, int k, int outlier_cols, std::mt19937& rng) {
  auto x = randn(size_t(m) * k, rng, 1.0f);
  for (auto& v : x) v = std::clamp(v, -4.0f, 4.0f);
  std::uniform_int_distribution<int> col(0, k - 1), row(0, m - 1);
  for (int j = 0; j < outlier_cols; ++j) {
    const int c = col(rng);
    x[size_t(row(rng)) * k + c] = (j % 2 ? -1.0f : 1.0f) * (8.0f + float(j));
  }
  round_all(x, DevType::F16);
  return x;
}

// y[m, n] through run_linear (the engine's entry point) with the StoreF32 output.
std::vector<float> run_f32(const LinearWeight& lw, Blas& blas, const std::vector<float>& x, int m) {
  DeviceBuffer dx = upload_t(x, DevType::F16);
  DeviceBuffer y(size_t(m) * lw.n * 4, "y");
  launch_fill_f32(y.as<float>(), int64_t(m) * lw.n, kNaN, nullptr);
  LinearIn in;
  in.x = dx.get();
  LinearOut out;
  out.kind = GemvOut::StoreF32;
  out.y = y.get();
  out.ldy = lw.n;
  run_linear(lw, m, in, out, blas, nullptr, "test");
  return download_raw<float>(y, size_t(m) * lw.n);
}

std::vector<double> cpu_ref(const quant::QuantizedMatrix& q, const std::vector<float>& x, int m) {
  std::vector<float> y(size_t(m) * q.rows);
  quant::linear_forward(q, x.data(), m, y.data());
  return std::vector<double>(y.begin(), y.end());
}

TEST(CudaQuant, MatmulsMatchTheCpuReference) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(7);
  struct Case {
    const char* f;
    int n, k;
  };
  const Case cases[] = {{"int8", 200, 512}, {"int8-pure", 200, 512}, {"int8", 64, 96},
                        {"nf4", 200, 512},  {"nf4-dq", 200, 512},    {"nf4", 48, 96},
                        {"nf4-dq", 48, 352}};
  for (const Case& c : cases) {
    const auto spec = quant::parse_format(c.f);
    Blas blas;
    reserve_quant_scratch(blas, spec, 80, c.k, c.n);
    const HostTensor h = make_tensor(planted_weights(c.n, c.k, rng), c.n, c.k, model::DType::F16);
    LinearWeight lw;
    upload_quant_linear(lw, c.n, c.k, spec, {{&h.view, {}}}, nullptr, c.f);
    const auto ref = quant::quantize_matrix(h.exact.data(), c.n, c.k, spec);
    for (int m : {1, 3, 8, 16, 17, 32, 33, 64, 80}) {
      // Small batches on the default path, and nf4's dequantize path at the same batch.
      // Few outlier columns, and more than one k step of the outlier GEMM (32 columns).
      for (int fused_max : {64, 0}) {
        for (int outlier_cols : {3, 45}) {
          if (spec.format == quant::WeightFormat::Int8 && fused_max == 0) continue;
          blas.paths.nf4_fused_max_batch = fused_max;
          const auto x = make_x(m, c.k, outlier_cols, rng);
          const auto got = run_f32(lw, blas, x, m);
          const double err = rel_err(got, cpu_ref(ref, x, m));
          EXPECT_LT(err, 1e-2) << c.f << " n=" << c.n << " k=" << c.k << " m=" << m
                               << " outlier cells " << outlier_cols << " path "
                               << matmul_path_name(choose_matmul_path(spec, blas.paths, m, c.k),
                                                   spec);
        }
      }
    }
  }
}

TEST(CudaQuant, FusedAndReferenceBnbAgreeWithinFp16Rounding) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(11);
  const int n = 256, k = 1024;
  const HostTensor h = make_tensor(planted_weights(n, k, rng), n, k, model::DType::F16);
  auto fused = quant::parse_format("int8");
  auto bnb = fused;
  bnb.int8_impl = quant::Int8Impl::ReferenceBnb;
  Blas blas;
  reserve_quant_scratch(blas, bnb, 64, k, n);
  LinearWeight lf, lb;
  upload_quant_linear(lf, n, k, fused, {{&h.view, {}}}, nullptr, "fused");
  upload_quant_linear(lb, n, k, bnb, {{&h.view, {}}}, nullptr, "bnb");
  for (int m : {1, 4, 16, 40, 64}) {
    for (int outliers : {0, 5, 70}) {
      const auto x = make_x(m, k, outliers, rng);
      const long long syncs0 = blas.qscratch.stats.syncs;
      const auto a = run_f32(lf, blas, x, m);
      const auto b = run_f32(lb, blas, x, m);
      EXPECT_EQ(blas.qscratch.stats.syncs, syncs0 + 1)
          << "reference-bnb synchronises once per layer";
      double scale = 0;
      for (float v : b) scale = std::max(scale, double(std::fabs(v)));
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << i;
        ASSERT_LE(std::fabs(double(a[i]) - b[i]), 1e-3 * std::fabs(double(b[i])) + 2e-5 * scale)
            << "m=" << m << " outliers=" << outliers << " i=" << i;
      }
    }
  }
}

TEST(CudaQuant, OutputModesMatchTheirDefinition) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(5);
  const int n = 96, k = 256, m = 3;
  for (const char* f : {"int8", "nf4"}) {
    const auto spec = quant::parse_format(f);
    Blas blas;
    reserve_quant_scratch(blas, spec, 64, k, n);
    const HostTensor h = make_tensor(planted_weights(n, k, rng), n, k, model::DType::F16);
    LinearWeight lw;
    upload_quant_linear(lw, n, k, spec, {{&h.view, {}}}, nullptr, f);
    const auto ref = quant::quantize_matrix(h.exact.data(), n, k, spec);
    for (int mm : {m, 40}) {
      const auto x = make_x(mm, k, 2, rng);
      const auto want = cpu_ref(ref, x, mm);
      DeviceBuffer dx = upload_t(x, DevType::F16);
      LinearIn in;
      in.x = dx.get();
      // AddResidual: y += x W^T on an fp32 residual.
      const auto resid0 = randn(size_t(mm) * n, rng, 1.0f);
      DeviceBuffer dr = upload_raw(resid0);
      run_linear(lw, mm, in, {GemvOut::AddResidual, dr.get(), n}, blas, nullptr, "add");
      const auto got = download_raw<float>(dr, resid0.size());
      std::vector<double> w2(resid0.size());
      for (size_t i = 0; i < w2.size(); ++i) w2[i] = want[i] + resid0[i];
      EXPECT_LT(rel_err(got, w2), 1e-2) << f << " AddResidual m=" << mm;
      // SwiGLU on gate/up rows interleaved by 8.
      DeviceBuffer act(size_t(mm) * (n / 2) * 2, "act");
      launch_fill(DevType::F16, act.get(), int64_t(mm) * (n / 2), kNaN, nullptr);
      DeviceBuffer scratch(size_t(mm) * n * 4, "scratch");
      LinearOut so{GemvOut::SwiGLU, act.get(), n / 2};
      so.gemm_scratch = scratch.get();
      run_linear(lw, mm, in, so, blas, nullptr, "swiglu");
      const auto sg = download_t(act, size_t(mm) * (n / 2), DevType::F16);
      std::vector<double> ws(sg.size());
      for (int b = 0; b < mm; ++b)
        for (int i = 0; i < n / 2; ++i) {
          const int gr = (i / 8) * 16 + i % 8;
          const double g = want[size_t(b) * n + gr], u = want[size_t(b) * n + gr + 8];
          ws[size_t(b) * (n / 2) + i] = g / (1.0 + std::exp(-g)) * u;
        }
      EXPECT_LT(rel_err(sg, ws), 1e-2) << f << " SwiGLU m=" << mm;
    }
  }
}

// The engine's GEMV path feeds the fp32 residual with the norm's gamma and sum of squares
// (normalised on the fly) instead of fp16 rows: both inputs must give the same product, in
// every output mode the engine uses (StoreT for q/k/v, AddResidual with the next norm's sum of
// squares, SwiGLU).
TEST(CudaQuant, NormalisedResidualInputEqualsPlainRows) {
  ECO_REQUIRE_GPU();
  std::mt19937 rng(21);
  const int n = 96, k = 256;
  const float eps = 1e-5f;
  for (const char* f : {"int8", "int8-pure", "nf4", "nf4-dq"}) {
    const auto spec = quant::parse_format(f);
    Blas blas;
    reserve_quant_scratch(blas, spec, 64, k, n);
    const HostTensor h = make_tensor(planted_weights(n, k, rng), n, k, model::DType::F16);
    LinearWeight lw;
    upload_quant_linear(lw, n, k, spec, {{&h.view, {}}}, nullptr, f);
    // nf4: the fused GEMV and the dequantize + fp16 GEMV path.
    for (int fused_max : {64, 0})
      for (int m : {1, 3, 8, 15, 16}) {
        if (spec.format == quant::WeightFormat::Int8 && fused_max == 0) continue;
        blas.paths.nf4_fused_max_batch = fused_max;
        SCOPED_TRACE(fmt::format("{} m={} nf4_fused_max_batch={}", f, m, fused_max));
        auto resid = randn(size_t(m) * k, rng, 1.0f);
        auto gamma = randn(size_t(k), rng, 0.2f);
        for (auto& g : gamma) g += 1.0f;
        gamma[7] = 30.0f;  // a planted outlier dimension, as synth --outliers makes them
        round_all(gamma, DevType::F16);
        std::vector<float> sumsq(static_cast<size_t>(m)), xn(static_cast<size_t>(m) * k);
        for (int b = 0; b < m; ++b) {
          double s2 = 0;
          for (int j = 0; j < k; ++j)
            s2 += double(resid[size_t(b) * k + j]) * resid[size_t(b) * k + j];
          sumsq[size_t(b)] = float(s2);
          const float inv = 1.0f / std::sqrt(float(s2) / float(k) + eps);
          for (int j = 0; j < k; ++j)
            xn[size_t(b) * k + j] = resid[size_t(b) * k + j] * inv * gamma[size_t(j)];
        }
        round_all(xn, DevType::F16);
        DeviceBuffer dres = upload_raw(resid), dgam = upload_t(gamma, DevType::F16),
                     dsq = upload_raw(sumsq), dxn = upload_t(xn, DevType::F16);
        LinearIn norm_in;
        norm_in.resid = dres.as<float>();
        norm_in.rms_gamma = dgam.get();
        norm_in.sumsq = dsq.as<float>();
        norm_in.eps = eps;
        LinearIn plain_in;
        plain_in.x = dxn.get();
        auto run = [&](const LinearIn& in, GemvOut kind, int cols, std::vector<float>* sq_out) {
          const bool f32 = kind == GemvOut::AddResidual || kind == GemvOut::StoreF32;
          DeviceBuffer y(size_t(m) * cols * 4, "y");
          if (kind == GemvOut::AddResidual) {
            std::vector<float> zero(size_t(m) * cols, 0.5f);
            y = upload_raw(zero);
          } else if (f32) {
            launch_fill_f32(y.as<float>(), int64_t(m) * cols, kNaN, nullptr);
          } else {
            launch_fill(DevType::F16, y.get(), int64_t(m) * cols, kNaN, nullptr);
          }
          DeviceBuffer dso = upload_raw(std::vector<float>(size_t(m), 0.0f));
          DeviceBuffer scratch(size_t(m) * n * 4, "scratch");
          LinearOut o{kind, y.get(), cols};
          if (kind == GemvOut::AddResidual) o.sumsq_out = dso.as<float>();
          o.gemm_scratch = scratch.get();
          run_linear(lw, m, in, o, blas, nullptr, "norm-input test");
          if (sq_out) *sq_out = download_raw<float>(dso, size_t(m));
          return f32 ? download_raw<float>(y, size_t(m) * cols)
                     : download_t(y, size_t(m) * cols, DevType::F16);
        };
        for (GemvOut kind : {GemvOut::StoreT, GemvOut::AddResidual, GemvOut::SwiGLU}) {
          const int cols = kind == GemvOut::SwiGLU ? n / 2 : n;
          std::vector<float> sq_a, sq_b;
          const auto a = run(norm_in, kind, cols, &sq_a);
          const auto b = run(plain_in, kind, cols, &sq_b);
          EXPECT_LT(rel_err(a, std::vector<double>(b.begin(), b.end())), 2e-3)
              << "mode " << int(kind);
          if (kind == GemvOut::AddResidual) {
            for (int r = 0; r < m; ++r) {
              double want = 0;
              for (int j = 0; j < n; ++j)
                want += double(b[size_t(r) * n + j]) * b[size_t(r) * n + j];
              EXPECT_NEAR(sq_b[size_t(r)], want, 1e-3 * want)
                  << "sum of squares, plain input, row " << r;
              EXPECT_NEAR(sq_a[size_t(r)], want, 1e-2 * want)
                  << "sum of squares, norm input, row " << r;
            }
          }
        }
      }
  }
}

}  // namespace
}  // namespace eco::engine::cuda::test
