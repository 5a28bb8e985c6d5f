// fp16 / bf16 conversions against an independent reference: exact rational rounding done in
// double precision (every fp16 and bf16 value, and every midpoint between neighbours, is exact
// in double).
#include "common/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace eco {
namespace {

// Value of an fp16 bit pattern, computed from the definition.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0x1f) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(double(mant), -24);
  return sign * std::ldexp(double(1024 + mant), exp - 25);
}

TEST(Half, EveryHalfValueDecodesExactly) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = half_to_float(uint16_t(h));
    const double ref = half_value(uint16_t(h));
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(f)) << h;
    } else {
      ASSERT_EQ(double(f), ref) << std::hex << h;
      ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << h;
    }
  }
}

TEST(Half, EveryHalfValueRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
    const uint16_t back = float_to_half(half_to_float(uint16_t(h)));
    if (nan) {
      ASSERT_EQ(back & 0x7c00, 0x7c00) << h;
      ASSERT_NE(back & 0x3ff, 0) << h;  // stays a NaN
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

// Midpoints between neighbouring fp16 values round to the one with an even mantissa; points
// just off the midpoint round to the nearer one.
TEST(Half, TiesToEvenAndNearest) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {  // positive finite values below the largest
    const double lo = half_value(uint16_t(h)), hi = half_value(uint16_t(h + 1));
    const double mid = (lo + hi) / 2;
    const float mid_f = float(mid);
    ASSERT_EQ(double(mid_f), mid);  // exactly representable in float
    const uint16_t even = (h & 1) ? uint16_t(h + 1) : uint16_t(h);
    ASSERT_EQ(float_to_half(mid_f), even) << std::hex << h;
    ASSERT_EQ(float_to_half(-mid_f), uint16_t(even | 0x8000)) << std::hex << h;
    ASSERT_EQ(float_to_half(std::nextafter(mid_f, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(float_to_half(std::nextafter(mid_f, INFINITY)), h + 1) << std::hex << h;
  }
}

TEST(Half, OverflowUnderflowAndSpecials) {
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65519.99f), 0x7bff);  // below the midpoint to 2^16
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);   // midpoint ties to even: infinity
  EXPECT_EQ(float_to_half(1e10f), 0x7c00);
  EXPECT_EQ(float_to_half(-1e10f), 0xfc00);
  EXPECT_EQ(float_to_half(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // half the smallest subnormal: even
  EXPECT_EQ(float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp ties to even
  EXPECT_EQ(float_to_half(1e-30f), 0x0000);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Half, Bf16) {
  // Every bf16 pattern decodes to the float with the same top 16 bits and encodes back.
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = bf16_to_float(uint16_t(b));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_bf16(f), b) << b;
    }
  }
  // Ties to even on the dropped 16 bits.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f807fffu)), 0x3f80);  // below the tie
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(round_to_bf16(1.0f), 1.0f);
  EXPECT_EQ(round_to_half(0.1f), half_to_float(0x2e66));
}

}  // namespace
}  // namespace eco
