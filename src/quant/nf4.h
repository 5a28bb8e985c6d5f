#pragma once
// 4-bit NormalFloat (QLoRA / bitsandbytes): the 16 code values, the quantizer of one normalised
// value, and blockwise quantization of a flat array (blocks of 64, fp32 absmax per block, two
// codes per byte with the first element in the HIGH nibble). Layout: docs/FORMATS.md.
#include <array>
#include <cstdint>

namespace eco::quant {

inline constexpr int kNF4BlockSize = 64;

// The NF4 code values, index = 4-bit code (bitsandbytes get_4bit_type("nf4") and the CUDA
// dDequantizeNF4 table), written as the fp32 literals bitsandbytes uses.
inline constexpr std::array<float, 16> kNF4Codes = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// Decision thresholds between adjacent codes (threshold i separates code i and code i+1), the
// fp32 literals of bitsandbytes' dQuantizeNF4 decision tree; each equals the midpoint of its two
// codes to within 1e-7 (tested).
inline constexpr std::array<float, 15> kNF4Thresholds = {
    -0.8480964004993439f,  -0.6106329262256622f,  -0.4599952697753906f,   -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f,   0.2035212516784668f,   0.2920137718319893f,    0.3893125355243683f,
    0.5016634166240692f,   0.6427869200706482f,   0.8614784181118011f,
};

// Code of a normalised value x (= w * (1/absmax)): the number of thresholds strictly below x.
// This is what bitsandbytes' tree of `x > threshold` tests computes, so a value exactly on a
// threshold takes the LOWER code. NaN gives 0 (never reached: the quantizers reject NaN).
inline uint8_t nf4_encode(float x) {
  uint8_t code = 0;
  for (float t : kNF4Thresholds) code += static_cast<uint8_t>(x > t);
  return code;
}

inline float nf4_decode(uint8_t code, float absmax) {
  return kNF4Codes[code & 0xf] * absmax;
}

// Bytes of the packed codes of n elements: ceil(n / 2).
inline int64_t nf4_packed_bytes(int64_t n) {
  return (n + 1) / 2;
}
// Number of 64-blocks (= absmax values) of n elements: ceil(n / 64).
inline int64_t nf4_block_count(int64_t n) {
  return (n + kNF4BlockSize - 1) / kNF4BlockSize;
}

// Quantizes n values (the flattened tensor) in blocks of 64 consecutive elements; the last
// block may be shorter. absmax[b] = max |w| over block b (fp32); each element's code is
// nf4_encode(w * (1.0f / absmax[b])) with both operations rounded in fp32; an all-zero block
// (absmax 0) gets code 7 (0.0) everywhere. Element 2k goes to the high nibble of packed[k],
// element 2k+1 to the low nibble; for odd n the last low nibble is 0.
// packed: nf4_packed_bytes(n) bytes; absmax: nf4_block_count(n) floats. Runs in parallel.
void quantize_nf4(const float* w, int64_t n, uint8_t* packed, float* absmax);

// Inverse: out[i] = kNF4Codes[code_i] * absmax[i / 64] (one fp32 multiplication).
void dequantize_nf4(const uint8_t* packed, const float* absmax, int64_t n, float* out);

// Code of element i of a packed array (high nibble for even i).
inline uint8_t nf4_code_at(const uint8_t* packed, int64_t i) {
  const uint8_t byte = packed[i >> 1];
  return (i & 1) ? (byte & 0x0f) : (byte >> 4);
}

}  // namespace eco::quant
