#pragma once
// cpu::Linear for the quantized weight formats (int8, nf4, nf4-dq): the weight is converted to fp32
// once, quantized with quant::quantize_matrix (the reference quantizers of docs/FORMATS.md), and
// every forward call runs quant::linear_forward, the reference matmul of that format. Only the
// QuantizedMatrix is kept, so bytes() is what the format costs.
#include <memory>
#include <string>

#include "engine/cpu/linear.h"
#include "quant/quantized_matrix.h"

namespace eco::engine::cpu {

class QuantLinear : public Linear {
 public:
  explicit QuantLinear(quant::QuantizedMatrix m);
  void forward(const float* x, int rows, float* y) const override;
  size_t bytes() const override { return matrix_.bytes(); }
  double bytes_per_weight() const { return matrix_.bytes_per_weight(); }
  const quant::QuantizedMatrix& matrix() const { return matrix_; }

 protected:
  quant::QuantizedMatrix matrix_;
};

// LLM.int8(): int8 weights with one absmax per row; activations quantized per token row, with
// the fp32 outlier-column decomposition when the threshold is > 0 (threshold 0 = int8-pure).
class Int8Linear final : public QuantLinear {
 public:
  using QuantLinear::QuantLinear;
  std::string kind() const override;
  float threshold() const { return matrix_.int8_threshold; }
};

// NF4 (blocks of 64, fp32 absmax) or NF4 with double-quantized absmax.
class NF4Linear final : public QuantLinear {
 public:
  using QuantLinear::QuantLinear;
  std::string kind() const override;
};

// The Linear of a quantized format for a stored [out, in] tensor (F32/F16/BF16). Throws
// eco::Error naming the tensor for other shapes or dtypes, or a format that is not quantized.
std::unique_ptr<Linear> make_quant_linear(const model::TensorView& weight,
                                          const quant::FormatSpec& format);

}  // namespace eco::engine::cpu
