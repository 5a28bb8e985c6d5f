#pragma once
// Exact fp32 rounding helpers shared by the quantizers. Every quantizer in this folder is a
// sequence of separately rounded IEEE fp32 operations (no FMA contraction, no fast-math), so that
// a CUDA kernel written with __fmul_rn / __fdiv_rn / __float2int_rn produces the same bytes.
#include <cfloat>
#include <cstdint>

namespace eco::quant {

static_assert(FLT_EVAL_METHOD == 0, "the quantizers need fp32 arithmetic evaluated in fp32");

// Round to the nearest integer, ties to even (CUDA's __float2int_rn, C's rint in the default
// rounding mode), for |v| <= 2^22. Adding 1.5 * 2^23 pushes the fraction bits out of the
// significand, so the fp32 addition itself rounds (to nearest even); subtracting gives the
// integer back exactly. Cheaper than nearbyintf, which is a library call without SSE4.1.
inline float round_half_even(float v) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  return (v + kShift) - kShift;
}

// v clamped to [-127, 127] and rounded half to even; NaN maps to 0 (never reached for finite
// weights; keeps a NaN activation from becoming undefined behaviour in the int conversion).
inline int8_t round_to_int8(float v) {
  if (v != v) return 0;
  v = v > 127.0f ? 127.0f : v;
  v = v < -127.0f ? -127.0f : v;
  return static_cast<int8_t>(round_half_even(v));
}

}  // namespace eco::quant
