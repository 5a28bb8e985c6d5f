#pragma once
// bitsandbytes' signed 8-bit "dynamic" data type (create_dynamic_map(signed=True)) and its
// blockwise quantizer, used by NF4 double quantization to store the per-block absmax in 8 bits.
// Construction and search rule: docs/FORMATS.md, "Dynamic map".
#include <array>
#include <cstdint>

namespace eco::quant {

using DynamicMap = std::array<float, 256>;

// The 256 code values, ascending: 127 negative values, 0 at index 127, 127 positive values and
// 1.0 at index 255 (there is no -1.0). Built once, by the same construction as bitsandbytes'
// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) evaluated in fp32 (see the
// .cpp). This table, not a recomputation, is the contract: the CUDA engine uploads it.
const DynamicMap& dynamic_map_signed();

// Code of x (normally in [-1, 1]) by bitsandbytes' dQuantize<0> binary search: 7 halving steps
// from pivot 127 with `x > code[pivot]` tests, then the nearer of the last pivot and its
// neighbour on x's side, comparing against the fp32 midpoint (a + b) * 0.5f with the strict
// tests of that kernel (x == midpoint keeps the pivot). The result is the nearest code.
uint8_t dynamic_encode(const DynamicMap& code, float x);

// Blockwise 8-bit quantization (bitsandbytes quantize_blockwise): blocks of `block_size`
// consecutive values (the last may be shorter), scale[b] = max |x| over block b, each value
// encoded as dynamic_encode(x * (1.0f / scale[b])). A block whose scale is 0 gets code 127 (0.0).
// q: n bytes; scale: ceil(n / block_size) floats. Runs in parallel.
void quantize_blockwise_8bit(const float* x, int64_t n, int block_size, uint8_t* q, float* scale);

// Inverse: out[i] = code[q[i]] * scale[i / block_size] (one fp32 multiplication).
void dequantize_blockwise_8bit(const uint8_t* q, const float* scale, int64_t n, int block_size,
                               float* out);

}  // namespace eco::quant
