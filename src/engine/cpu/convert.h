#pragma once
// Stored tensors (F32/F16/BF16) to fp32, rounded through the requested weight format, as the
// CPU reference engine holds them.
#include <memory>
#include <vector>

#include "model/dtype.h"
#include "quant/format.h"

namespace eco::engine::cpu {

// Value of one element as stored, or after rounding through fp16 / bf16 when the format asks
// for it. Native and fp32 keep the stored value.
using RoundFn = float (*)(float);
RoundFn rounding_for(const quant::FormatSpec& format);

// Throws eco::Error (naming the tensor) for quantized formats, for dtypes other than
// F32/F16/BF16, and when the element count differs from `expected_numel` (if >= 0).
std::vector<float> to_fp32(const model::TensorView& t, const quant::FormatSpec& format,
                           int64_t expected_numel = -1);

// Throws the engine's "not implemented" error for quantized formats; no-op otherwise.
void require_dense_format(const quant::FormatSpec& format);

}  // namespace eco::engine::cpu
