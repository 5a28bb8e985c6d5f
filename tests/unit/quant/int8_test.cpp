#include "quant/int8.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/error.h"
#include "quant/rounding.h"
#include "random_data.h"

namespace eco::quant {
namespace {

struct Rows {
  std::vector<int8_t> q;
  std::vector<float> absmax;
};

Rows quantize_rows(const std::vector<float>& w, int64_t rows, int64_t cols) {
  Rows out{std::vector<int8_t>(w.size()), std::vector<float>(size_t(rows))};
  quantize_int8_rows(w.data(), rows, cols, out.q.data(), out.absmax.data());
  return out;
}

TEST(Int8, ConstantsAreBitsandbytesFp32Values) {
  EXPECT_EQ(kInv127, 7.874015718698502e-3f);
  EXPECT_EQ(kInv127Squared, float(1.0 / (127.0 * 127.0)));
  EXPECT_EQ(kInt8MaxInner, 133144);  // 16129 * 133144 = 2147479576 <= 2^31 - 1
}

TEST(Int8, RoundHalfEven) {
  EXPECT_EQ(round_half_even(2.5f), 2.0f);
  EXPECT_EQ(round_half_even(3.5f), 4.0f);
  EXPECT_EQ(round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(round_half_even(-63.5f), -64.0f);
  EXPECT_EQ(round_half_even(0.49999997f), 0.0f);
  EXPECT_EQ(round_half_even(126.50001f), 127.0f);
  EXPECT_EQ(round_to_int8(300.0f), 127);
  EXPECT_EQ(round_to_int8(-1e30f), -127);
  EXPECT_EQ(round_to_int8(std::nanf("")), 0);
}

TEST(Int8, HandComputedRowsWithTies) {
  // Row 0: absmax 127 -> 127/127 = 1 exactly, so ties are visible: 2.5 -> 2, 3.5 -> 4,
  // -63.5 -> -64 (half to even). Row 1: absmax 2 -> inv 63.5: 1 * 63.5 = 63.5 -> 64,
  // -0.5 * 63.5 = -31.75 -> -32. Row 2: all zero.
  const std::vector<float> w = {127.0f, 2.5f, 3.5f,  -63.5f,  //
                                2.0f,   1.0f, -0.5f, 0.0f,    //
                                0.0f,   0.0f, 0.0f,  0.0f};
  const Rows r = quantize_rows(w, 3, 4);
  EXPECT_EQ(r.absmax, (std::vector<float>{127.0f, 2.0f, 0.0f}));
  EXPECT_EQ(r.q, (std::vector<int8_t>{127, 2, 4, -64, 127, 64, -32, 0, 0, 0, 0, 0}));
  std::vector<float> back(w.size());
  dequantize_int8_rows(r.q.data(), r.absmax.data(), 3, 4, back.data());
  EXPECT_FLOAT_EQ(back[1], 2.0f);
  EXPECT_FLOAT_EQ(back[4], 2.0f);
  EXPECT_FLOAT_EQ(back[6], -0.503937f);  // -32 * 2 / 127
  for (size_t i = 8; i < 12; ++i) EXPECT_EQ(back[i], 0.0f);
}

TEST(Int8, RandomRowsErrorIsBoundedByHalfAStep) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t rows = 64, cols = 200;
  const std::vector<float> w = testing::rows_of_varying_scale(rows, cols, seed);
  const Rows r = quantize_rows(w, rows, cols);
  std::vector<float> back(w.size());
  dequantize_int8_rows(r.q.data(), r.absmax.data(), rows, cols, back.data());
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float absmax = r.absmax[size_t(i / cols)];
    ASSERT_LE(std::fabs(back[size_t(i)] - w[size_t(i)]), absmax / 127.0f / 2.0f * (1.0f + 1e-4f))
        << i;
  }
}

TEST(Int8Activations, ThresholdExactlyAtAValueMakesAnOutlierColumn) {
  const std::vector<float> x = {1.0f, 6.0f,  2.0f,  //
                                0.5f, -5.0f, -3.0f};
  const Int8Activations a = quantize_activations(x.data(), 2, 3, 6.0f);
  EXPECT_EQ(a.outlier_cols, (std::vector<int32_t>{1}));
  // Column 1 is left out of both rows' absmax, even row 1's -5 (the whole column is excluded).
  EXPECT_EQ(a.row_absmax, (std::vector<float>{2.0f, 3.0f}));
  // Row 0: 1 * 63.5 = 63.5 -> 64; row 1: 0.5 * (127/3) = 21.17 -> 21.
  EXPECT_EQ(a.q, (std::vector<int8_t>{64, 0, 127, 21, 0, -127}));

  const Int8Activations above = quantize_activations(x.data(), 2, 3, std::nextafter(6.0f, 7.0f));
  EXPECT_TRUE(above.outlier_cols.empty());
  EXPECT_EQ(above.row_absmax, (std::vector<float>{6.0f, 5.0f}));

  const Int8Activations pure = quantize_activations(x.data(), 2, 3, 0.0f);
  EXPECT_TRUE(pure.outlier_cols.empty());
  EXPECT_EQ(pure.row_absmax, (std::vector<float>{6.0f, 5.0f}));
  EXPECT_EQ(pure.q[1], 127);
}

TEST(Int8Activations, NegativeOutlierAndAllZeroRow) {
  const std::vector<float> x = {0.0f, 0.0f,  0.0f, 0.0f,  //
                                0.1f, -7.0f, 0.2f, 0.0f};
  const Int8Activations a = quantize_activations(x.data(), 2, 4, 6.0f);
  EXPECT_EQ(a.outlier_cols, (std::vector<int32_t>{1}));
  EXPECT_EQ(a.row_absmax[0], 0.0f);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(a.q[size_t(c)], 0);
  EXPECT_EQ(a.q[4 + 2], 127);
}

TEST(Int8Activations, RejectsInvalidThreshold) {
  const std::vector<float> x = {1.0f};
  EXPECT_THROW(quantize_activations(x.data(), 1, 1, -1.0f), Error);
  EXPECT_THROW(quantize_activations(x.data(), 1, 1, std::nanf("")), Error);
}

TEST(Int8Matmul, HandComputed) {
  // W = [127, -127] (absmax 127), x = [1, 8]. Exact: 127 - 1016 = -889.
  // Threshold 0: absmax 8, 127/8 = 15.875 -> qx = [16, 127], acc = 2032 - 16129 = -14097,
  // y = -14097 * 8 * 127 / 127^2 = -888 (the activation's rounding error shows).
  const std::vector<int8_t> wq = {127, -127};
  const std::vector<float> sw = {127.0f};
  const std::vector<float> x = {1.0f, 8.0f};
  float y = 0;
  int8_linear_forward(x.data(), 1, 2, wq.data(), sw.data(), 1, 0.0f, &y);
  EXPECT_FLOAT_EQ(y, -888.0f);
  // Threshold 6: column 1 is an outlier. int8 part: absmax 1, qx = [127, 0], acc = 16129,
  // 16129 * 1 * 127 / 127^2 = 127; outlier part 8 * (-127) = -1016; sum -889.
  int8_linear_forward(x.data(), 1, 2, wq.data(), sw.data(), 1, 6.0f, &y);
  EXPECT_FLOAT_EQ(y, -889.0f);
}

TEST(Int8Matmul, MatchesFp32MatmulOfDequantizedWeightsWithinActivationError) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int rows = 5;
  const int64_t in = 192, out = 40;
  const std::vector<float> w = testing::rows_of_varying_scale(out, in, seed);
  const std::vector<float> x = testing::normal_values(size_t(rows * in), 1.0f, seed + 1);
  const Rows r = quantize_rows(w, out, in);
  std::vector<float> w_deq(w.size());
  dequantize_int8_rows(r.q.data(), r.absmax.data(), out, in, w_deq.data());
  std::vector<float> y(static_cast<size_t>(rows * out));
  int8_linear_forward(x.data(), rows, in, r.q.data(), r.absmax.data(), out, 0.0f, y.data());
  const std::vector<double> ref = testing::matmul_ref(x, rows, w_deq, out, in);
  for (int i = 0; i < rows; ++i) {
    float sx = 0;
    for (int64_t k = 0; k < in; ++k) sx = std::max(sx, std::fabs(x[size_t(i * in + k)]));
    for (int64_t o = 0; o < out; ++o) {
      // Each activation moves by at most half a step (sx / 254); weights are identical.
      double w_l1 = 0;
      for (int64_t k = 0; k < in; ++k) w_l1 += std::fabs(w_deq[size_t(o * in + k)]);
      const double bound =
          w_l1 * sx / 254.0 * (1 + 1e-4) + 1e-5 * std::fabs(ref[size_t(i * out + o)]);
      ASSERT_LE(std::fabs(y[size_t(i * out + o)] - ref[size_t(i * out + o)]), bound)
          << "row " << i << " out " << o;
    }
  }
}

TEST(Int8Matmul, OutlierDecompositionFindsPlantedColumnsAndCutsTheError) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int rows = 8;
  const int64_t in = 256, out = 64;
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> big(15.0f, 60.0f);
  std::vector<float> x(static_cast<size_t>(rows * in));
  for (float& v : x) v = std::clamp(normal(gen), -4.0f, 4.0f);  // never reaches 6
  const std::vector<int32_t> planted = {3, 17, 40, 41, 200};
  for (int32_t c : planted) {
    // Large in some rows only (as real outlier features), both signs.
    for (int r = 0; r < rows; r += 2) x[size_t(r * in + c)] = (r % 4 ? -1.0f : 1.0f) * big(gen);
  }
  const std::vector<float> w = testing::normal_values(size_t(out * in), 0.05f, seed + 7);
  const Rows q = quantize_rows(w, out, in);
  std::vector<float> w_deq(w.size());
  dequantize_int8_rows(q.q.data(), q.absmax.data(), out, in, w_deq.data());
  const std::vector<double> ref = testing::matmul_ref(x, rows, w_deq, out, in);

  EXPECT_EQ(quantize_activations(x.data(), rows, in, 6.0f).outlier_cols, planted);

  auto rms_error = [&](float threshold) {
    std::vector<float> y(static_cast<size_t>(rows * out));
    int8_linear_forward(x.data(), rows, in, q.q.data(), q.absmax.data(), out, threshold, y.data());
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += (y[i] - ref[i]) * (y[i] - ref[i]);
    return std::sqrt(s / double(y.size()));
  };
  const double err_pure = rms_error(0.0f);
  const double err_decomposed = rms_error(6.0f);
  EXPECT_GT(err_pure, 0.0);
  EXPECT_LT(err_decomposed, err_pure / 5.0)
      << "pure " << err_pure << " decomposed " << err_decomposed;
}

TEST(Int8Matmul, RejectsAnInnerDimensionThatCouldOverflow) {
  const float x = 0;
  const int8_t wq = 0;
  const float sw = 0;
  float y = 0;
  EXPECT_THROW(int8_linear_forward(&x, 1, kInt8MaxInner + 1, &wq, &sw, 1, 0.0f, &y), Error);
}

}  // namespace
}  // namespace eco::quant
