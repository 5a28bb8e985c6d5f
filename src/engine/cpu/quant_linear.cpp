#include "engine/cpu/quant_linear.h"

#include <fmt/format.h>

#include "common/error.h"
#include "engine/cpu/convert.h"

namespace eco::engine::cpu {

QuantLinear::QuantLinear(quant::QuantizedMatrix m)
    : Linear(int(m.cols), int(m.rows)), matrix_(std::move(m)) {}

void QuantLinear::forward(const float* x, int rows, float* y) const {
  quant::linear_forward(matrix_, x, rows, y);
}

std::string Int8Linear::kind() const {
  return matrix_.int8_threshold > 0.0f
             ? fmt::format("int8 LLM.int8() reference (threshold {:g}, fp32 outlier columns)",
                           matrix_.int8_threshold)
             : std::string("int8-pure reference (int32 accumulation)");
}

std::string NF4Linear::kind() const {
  return matrix_.format == quant::WeightFormat::NF4DQ
             ? "nf4-dq reference (double-quantized absmax, fp32 dot products)"
             : "nf4 reference (fp32 absmax, fp32 dot products)";
}

std::unique_ptr<Linear> make_quant_linear(const model::TensorView& weight,
                                          const quant::FormatSpec& format) {
  if (!format.quantized()) fail("internal: make_quant_linear called for format {}", format.name());
  if (weight.shape.size() != 2)
    fail("tensor '{}' in {} should be 2-D [out, in], has {} dimensions", weight.name, weight.file,
         weight.shape.size());
  // The stored values exactly (fp16/bf16 are subsets of fp32): what load_in_8bit/4bit quantize.
  quant::FormatSpec stored;
  stored.format = quant::WeightFormat::Native;
  const std::vector<float> w = to_fp32(weight, stored);
  auto m = quant::quantize_matrix(w.data(), weight.shape[0], weight.shape[1], format,
                                  fmt::format("tensor '{}' in {}", weight.name, weight.file));
  if (format.format == quant::WeightFormat::Int8) return std::make_unique<Int8Linear>(std::move(m));
  return std::make_unique<NF4Linear>(std::move(m));
}

}  // namespace eco::engine::cpu
