#include "quant/nf4.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "quant/quantized_matrix.h"
#include "random_data.h"

namespace eco::quant {
namespace {

struct Nf4 {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
};

Nf4 quantize(const std::vector<float>& w) {
  const int64_t n = int64_t(w.size());
  Nf4 q{std::vector<uint8_t>(size_t(nf4_packed_bytes(n))),
        std::vector<float>(size_t(nf4_block_count(n)))};
  quantize_nf4(w.data(), n, q.packed.data(), q.absmax.data());
  return q;
}

std::vector<float> dequantize(const Nf4& q, size_t n) {
  std::vector<float> out(n);
  dequantize_nf4(q.packed.data(), q.absmax.data(), int64_t(n), out.data());
  return out;
}

float largest_code_gap() {
  float gap = 0.0f;
  for (size_t i = 0; i + 1 < kNF4Codes.size(); ++i)
    gap = std::max(gap, kNF4Codes[i + 1] - kNF4Codes[i]);
  return gap;
}

TEST(Nf4, CodeTableIsAscendingAndThresholdsAreMidpoints) {
  EXPECT_EQ(kNF4Codes[0], -1.0f);
  EXPECT_EQ(kNF4Codes[7], 0.0f);
  EXPECT_EQ(kNF4Codes[15], 1.0f);
  for (size_t i = 0; i + 1 < kNF4Codes.size(); ++i) {
    EXPECT_LT(kNF4Codes[i], kNF4Codes[i + 1]);
    const double mid = (double(kNF4Codes[i]) + double(kNF4Codes[i + 1])) / 2.0;
    EXPECT_NEAR(kNF4Thresholds[i], mid, 1e-7) << "threshold " << i;
  }
  // The largest gap is between -1.0 and -0.6961928 (the negative side has one code fewer).
  EXPECT_FLOAT_EQ(largest_code_gap(), 1.0f - 0.6961928009986877f);
}

TEST(Nf4, AllSixteenCodesRoundTripExactly) {
  for (float absmax : {1.0f, 3.0f, 0.0123f, 417.5f}) {
    SCOPED_TRACE(absmax);
    std::vector<float> w(64);
    for (size_t i = 0; i < w.size(); ++i) w[i] = kNF4Codes[i % 16] * absmax;
    const Nf4 q = quantize(w);
    ASSERT_EQ(q.absmax.size(), 1u);
    EXPECT_EQ(q.absmax[0], absmax);
    for (size_t i = 0; i < w.size(); ++i)
      EXPECT_EQ(nf4_code_at(q.packed.data(), int64_t(i)), i % 16);
    EXPECT_EQ(dequantize(q, w.size()), w);
  }
}

TEST(Nf4, FirstElementGoesToTheHighNibble) {
  EXPECT_EQ(quantize({1.0f, -1.0f}).packed, (std::vector<uint8_t>{0xF0}));
  EXPECT_EQ(quantize({-1.0f, 1.0f}).packed, (std::vector<uint8_t>{0x0F}));
  // Odd length: the last byte's low nibble is padding (0).
  EXPECT_EQ(quantize({1.0f, 0.0f, 1.0f}).packed, (std::vector<uint8_t>{0xF7, 0xF0}));
}

TEST(Nf4, ValueExactlyOnAThresholdTakesTheLowerCode) {
  // absmax 1 makes the normalised value the weight itself (1/1 = 1 exactly).
  for (size_t t = 0; t < kNF4Thresholds.size(); ++t) {
    SCOPED_TRACE(t);
    const float on = kNF4Thresholds[t];
    const float above = std::nextafter(on, 2.0f);
    const Nf4 q = quantize({1.0f, on, above, -1.0f});
    EXPECT_EQ(nf4_code_at(q.packed.data(), 1), t);
    EXPECT_EQ(nf4_code_at(q.packed.data(), 2), t + 1);
  }
}

TEST(Nf4, AllZeroBlockIsExactlyZero) {
  std::vector<float> w(128, 0.0f);
  for (size_t i = 64; i < 128; ++i) w[i] = float(i) - 100.0f;  // second block is ordinary
  const Nf4 q = quantize(w);
  EXPECT_EQ(q.absmax[0], 0.0f);
  for (size_t k = 0; k < 32; ++k) EXPECT_EQ(q.packed[k], 0x77) << k;
  const std::vector<float> back = dequantize(q, w.size());
  for (size_t i = 0; i < 64; ++i) {
    EXPECT_EQ(back[i], 0.0f);
    EXPECT_FALSE(std::signbit(back[i]));
  }
}

TEST(Nf4, OneHugeValueFlattensOnlyItsOwnBlock) {
  std::vector<float> w(128);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 1e-3f * float(int(i % 7) - 3);
  w[5] = 1e6f;
  const Nf4 q = quantize(w);
  EXPECT_EQ(q.absmax[0], 1e6f);
  const float block1_absmax = 1e-3f * 3.0f;
  EXPECT_EQ(q.absmax[1], block1_absmax);
  const std::vector<float> back = dequantize(q, w.size());
  EXPECT_EQ(back[5], 1e6f);
  for (size_t i = 0; i < 64; ++i) {
    if (i != 5) {
      EXPECT_EQ(back[i], 0.0f) << i;  // 3e-9 of the absmax rounds to code 7
    }
  }
  // The next block keeps its own scale: +-absmax are exact codes there (69 % 7 = 6, 70 % 7 = 0).
  EXPECT_EQ(back[69], block1_absmax);
  EXPECT_EQ(back[70], -block1_absmax);
}

TEST(Nf4, PartialLastBlockUsesOnlyItsOwnElements) {
  std::vector<float> w(100, 0.5f);
  w[10] = 8.0f;
  w[99] = -2.0f;
  const Nf4 q = quantize(w);
  ASSERT_EQ(q.absmax.size(), 2u);
  ASSERT_EQ(q.packed.size(), 50u);
  EXPECT_EQ(q.absmax[0], 8.0f);
  EXPECT_EQ(q.absmax[1], 2.0f);
}

TEST(Nf4, BlocksRunOverTheFlattenedMatrixAcrossRows) {
  // 3 x 40: block 0 = row 0 and the first 24 elements of row 1.
  std::vector<float> w(120, 0.25f);
  w[40 + 10] = 1000.0f;  // row 1, column 10: element 50, block 0
  const QuantizedMatrix m = quantize_matrix(w.data(), 3, 40, parse_format("nf4"));
  ASSERT_EQ(m.block_absmax.size(), 2u);
  EXPECT_EQ(m.block_absmax[0], 1000.0f);
  EXPECT_EQ(m.block_absmax[1], 0.25f);
  const std::vector<float> back = dequantize_matrix(m);
  EXPECT_EQ(back[0], 0.0f);         // row 0 shares the huge block
  EXPECT_EQ(back[40 + 30], 0.25f);  // row 1, column 30: element 70, block 1
  EXPECT_EQ(back[80 + 39], 0.25f);
}

TEST(Nf4, RandomDataErrorIsBoundedAndCodeIsNearest) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const size_t n = 64 * 300 + 37;
  const std::vector<float> w = testing::normal_values(n, 0.02f, seed);
  const Nf4 q = quantize(w);
  const std::vector<float> back = dequantize(q, n);
  const float half_gap = 0.5f * largest_code_gap();
  for (size_t i = 0; i < n; ++i) {
    const float absmax = q.absmax[i / 64];
    ASSERT_LE(std::fabs(back[i] - w[i]), half_gap * absmax * (1.0f + 1e-5f)) << i;
    // Nearest code (up to fp32 rounding of the normalised value).
    const float x = w[i] / absmax;
    const uint8_t code = nf4_code_at(q.packed.data(), int64_t(i));
    for (float c : kNF4Codes) {
      ASSERT_LE(std::fabs(x - kNF4Codes[code]), std::fabs(x - c) + 1e-6f) << i;
    }
  }
}

}  // namespace
}  // namespace eco::quant
