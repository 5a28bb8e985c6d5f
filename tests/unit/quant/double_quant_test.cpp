#include "quant/double_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "quant/nf4.h"
#include "quant/quantized_matrix.h"
#include "random_data.h"

namespace eco::quant {
namespace {

float largest_dynamic_gap() {
  const DynamicMap& code = dynamic_map_signed();
  float gap = 0.0f;
  for (size_t i = 0; i + 1 < code.size(); ++i) gap = std::max(gap, code[i + 1] - code[i]);
  return gap;
}

TEST(DoubleQuant, OffsetIsTheMean) {
  const std::vector<float> a = {1.0f, 2.0f, 3.0f, 4.0f};
  EXPECT_EQ(absmax_offset(a.data(), 4), 2.5f);
  // Many values spanning several 256-blocks: matches a long double mean to fp32 rounding.
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  std::vector<float> b = testing::normal_values(256 * 37 + 11, 1.0f, seed);
  long double sum = 0;
  for (float& v : b) {
    v = std::fabs(v);
    sum += v;
  }
  const float expected = float(sum / b.size());
  EXPECT_NEAR(absmax_offset(b.data(), int64_t(b.size())), expected, 1e-7f * expected);
}

TEST(DoubleQuant, EqualAbsmaxRoundTripsExactly) {
  // Every block has the same absmax: centred values are all 0, scales 0, codes 127, and the
  // dequantized absmax is the offset itself.
  const std::vector<float> a(300, 0.0371f);
  std::vector<uint8_t> codes(300);
  std::vector<float> scales(2);
  float offset = 0;
  double_quantize_absmax(a.data(), 300, codes.data(), scales.data(), &offset);
  EXPECT_EQ(offset, 0.0371f);
  EXPECT_EQ(scales[0], 0.0f);
  for (int64_t i = 0; i < 300; ++i) {
    EXPECT_EQ(codes[size_t(i)], 127);
    EXPECT_EQ(dequantize_absmax(codes.data(), scales.data(), offset, i), 0.0371f);
  }
}

TEST(DoubleQuant, AbsmaxErrorIsBoundedByHalfTheDynamicGap) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 256 * 12 + 77;
  std::vector<float> a = testing::normal_values(size_t(n), 1.0f, seed);
  for (float& v : a) v = 0.05f + 0.01f * std::fabs(v);  // absmax-like: positive, clustered
  a[1000] = 3.0f;                                       // one block with a much larger absmax
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  std::vector<float> scales(size_t(double_quant_block_count(n)));
  float offset = 0;
  double_quantize_absmax(a.data(), n, codes.data(), scales.data(), &offset);
  const float half_gap = 0.5f * largest_dynamic_gap();
  for (int64_t i = 0; i < n; ++i) {
    const float s = scales[size_t(i / 256)];
    const float err =
        std::fabs(dequantize_absmax(codes.data(), scales.data(), offset, i) - a[size_t(i)]);
    // Step of the 8-bit code, plus the fp32 roundings of (a - offset) and (+ offset).
    ASSERT_LE(err, half_gap * s * (1.0f + 1e-4f) + 4e-7f * (offset + std::fabs(a[size_t(i)]))) << i;
  }
  // The big value's block has a coarse scale; the others keep a fine one.
  EXPECT_GT(scales[1000 / 256], 2.5f);
  EXPECT_LT(scales[0], 0.1f);
}

TEST(DoubleQuant, Nf4DqWeightsStayWithinTheNf4StepPlusTheAbsmaxError) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t rows = 48, cols = 320;
  std::vector<float> w = testing::rows_of_varying_scale(rows, cols, seed);
  std::fill(w.begin() + 64, w.begin() + 128, 0.0f);  // an all-zero 64-block
  const QuantizedMatrix plain = quantize_matrix(w.data(), rows, cols, parse_format("nf4"));
  const QuantizedMatrix dq = quantize_matrix(w.data(), rows, cols, parse_format("nf4-dq"));
  // Same 4-bit codes: double quantization only changes how the absmax is stored.
  EXPECT_EQ(plain.data, dq.data);
  EXPECT_TRUE(dq.block_absmax.empty());
  const std::vector<float> back = dequantize_matrix(dq);
  float nf4_gap = 0.0f;
  for (size_t i = 0; i + 1 < kNF4Codes.size(); ++i)
    nf4_gap = std::max(nf4_gap, kNF4Codes[i + 1] - kNF4Codes[i]);
  for (int64_t i = 0; i < rows * cols; ++i) {
    const int64_t b = i / 64;
    const float absmax = plain.block_absmax[size_t(b)];
    const float absmax_err = std::fabs(dq.nf4_block_absmax(b) - absmax);
    ASSERT_LE(std::fabs(back[size_t(i)] - w[size_t(i)]),
              0.5f * nf4_gap * absmax * (1.0f + 1e-5f) + absmax_err * (1.0f + 1e-5f))
        << i;
  }
  for (int64_t i = 64; i < 128; ++i) EXPECT_EQ(back[size_t(i)], 0.0f) << i;
}

}  // namespace
}  // namespace eco::quant
