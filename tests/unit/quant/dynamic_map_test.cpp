#include "quant/dynamic_map.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "random_data.h"

namespace eco::quant {
namespace {

float largest_gap(const DynamicMap& code) {
  float gap = 0.0f;
  for (size_t i = 0; i + 1 < code.size(); ++i) gap = std::max(gap, code[i + 1] - code[i]);
  return gap;
}

TEST(DynamicMap, HasBitsandbytesSignedStructure) {
  const DynamicMap& code = dynamic_map_signed();
  for (size_t i = 0; i + 1 < code.size(); ++i) EXPECT_LT(code[i], code[i + 1]) << i;
  EXPECT_EQ(code[127], 0.0f);
  EXPECT_EQ(code[255], 1.0f);
  // 127 negative values mirror the 127 positive ones below 1.0; there is no -1.0.
  for (size_t k = 0; k < 127; ++k) EXPECT_EQ(code[k], -code[254 - k]) << k;
  // Decade i holds 2^i positive values in (10^(i-7), 10^(i-6)).
  size_t index = 128;
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < (1 << i); ++j, ++index) {
      EXPECT_GT(code[index], std::pow(10.0, i - 7)) << index;
      EXPECT_LT(code[index], std::pow(10.0, i - 6)) << index;
    }
  }
  EXPECT_EQ(index, 255u);
}

TEST(DynamicMap, HandComputedValues) {
  const DynamicMap& code = dynamic_map_signed();
  // Decade 0: linspace(0.1, 1, 2) = {0.1, 1}, one midpoint 0.55, times 1e-6.
  EXPECT_NEAR(code[128], 0.55e-6, 1e-12);
  // Decade 1: {0.1, 0.55, 1} -> midpoints 0.325, 0.775, times 1e-5.
  EXPECT_NEAR(code[129], 3.25e-6, 1e-12);
  EXPECT_NEAR(code[130], 7.75e-6, 1e-12);
  // Decade 2: {0.1, 0.325, 0.55, 0.775, 1} -> first midpoint 0.2125, times 1e-4.
  EXPECT_NEAR(code[131], 2.125e-5, 1e-11);
  // Decade 6: 65 points 0.1 + k * 0.9/64; the first midpoint is 0.1 + 0.45/64, the last
  // 1 - 0.45/64.
  EXPECT_NEAR(code[191], 0.1 + 0.45 / 64, 1e-7);
  EXPECT_NEAR(code[254], 1.0 - 0.45 / 64, 1e-7);
  EXPECT_NEAR(code[0], -(1.0 - 0.45 / 64), 1e-7);
  // The largest gap is between adjacent decade-6 midpoints: 0.9 / 64.
  EXPECT_NEAR(largest_gap(code), 0.9 / 64, 1e-6);
}

TEST(DynamicMap, MatchesTheTablePublishedInFormatsMd) {
  // docs/FORMATS.md lists the table as the contract the CUDA engine relies on; a change to the
  // construction must show up here and in the document together.
  const DynamicMap& code = dynamic_map_signed();
  EXPECT_EQ(code[0], -0.992968738f);
  EXPECT_EQ(code[63], -0.107031256f);
  EXPECT_EQ(code[64], -0.0985937491f);
  EXPECT_EQ(code[120], -8.87499991e-05f);
  EXPECT_EQ(code[126], -5.50000038e-07f);
  EXPECT_EQ(code[159], 0.0114062503f);
  EXPECT_EQ(code[191], 0.107031256f);
  EXPECT_EQ(code[219], 0.500781238f);
  EXPECT_EQ(code[254], 0.992968738f);
}

TEST(DynamicMap, EveryCodeValueEncodesToItself) {
  const DynamicMap& code = dynamic_map_signed();
  for (size_t k = 0; k < code.size(); ++k) EXPECT_EQ(dynamic_encode(code, code[k]), k) << k;
  EXPECT_EQ(dynamic_encode(code, -1.0f), 0);
  EXPECT_EQ(dynamic_encode(code, 1.0f), 255);
  EXPECT_EQ(dynamic_encode(code, 0.0f), 127);
}

TEST(DynamicMap, BinarySearchFindsTheNearestCode) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const DynamicMap& code = dynamic_map_signed();
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_real_distribution<float> log_mag(-8.0f, 0.0f);
  for (int i = 0; i < 200000; ++i) {
    // Half uniform, half spread over the decades where the map is dense.
    float x = uniform(gen);
    if (i % 2) x = std::copysign(std::pow(10.0f, log_mag(gen)), x);
    const uint8_t got = dynamic_encode(code, x);
    float best = std::fabs(x - code[0]);
    for (float c : code) best = std::min(best, std::fabs(x - c));
    // Nearest, up to the fp32 rounding of the midpoint the search compares against (values
    // within an ulp of a midpoint may go either way).
    ASSERT_LE(std::fabs(x - code[got]), best + 2.4e-7f * std::fabs(x) + 1e-12f) << "x=" << x;
  }
}

TEST(DynamicMap, MidpointTieFollowsTheSearchPath) {
  // Exactly between code[200] and code[201]: the search ends on one of them as pivot and keeps
  // the pivot (strict comparisons), so the result is one of the two neighbours.
  const DynamicMap& code = dynamic_map_signed();
  const float mid = (code[200] + code[201]) * 0.5f;
  const uint8_t got = dynamic_encode(code, mid);
  EXPECT_TRUE(got == 200 || got == 201) << int(got);
}

TEST(DynamicMap, BlockwiseRoundTripIsBoundedByHalfTheLargestGap) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 256 * 20 + 100;
  std::vector<float> x = testing::normal_values(size_t(n), 3.0f, seed);
  std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // one all-zero block
  std::vector<uint8_t> q(static_cast<size_t>(n));
  std::vector<float> scale(21);
  quantize_blockwise_8bit(x.data(), n, 256, q.data(), scale.data());
  std::vector<float> back(static_cast<size_t>(n));
  dequantize_blockwise_8bit(q.data(), scale.data(), n, 256, back.data());
  const float half_gap = 0.5f * largest_gap(dynamic_map_signed());
  EXPECT_EQ(scale[1], 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float s = scale[size_t(i / 256)];
    ASSERT_LE(std::fabs(back[size_t(i)] - x[size_t(i)]), half_gap * s * (1.0f + 1e-4f)) << i;
  }
  for (int64_t i = 256; i < 512; ++i) {
    EXPECT_EQ(q[size_t(i)], 127);
    EXPECT_EQ(back[size_t(i)], 0.0f);
  }
}

}  // namespace
}  // namespace eco::quant
