#include "engine/cpu/linear.h"

#include <algorithm>

#include "common/error.h"
#include "common/parallel.h"
#include "engine/cpu/convert.h"
#include "engine/cpu/ops.h"
#include "engine/cpu/quant_linear.h"

namespace eco::engine::cpu {

DenseLinear::DenseLinear(std::shared_ptr<const std::vector<float>> weight, int in_features,
                         int out_features)
    : Linear(in_features, out_features), weight_(std::move(weight)) {
  if (!weight_ || weight_->size() != size_t(in_features) * size_t(out_features))
    fail("internal: dense weight of {} x {} has {} elements", out_features, in_features,
         weight_ ? weight_->size() : 0);
}

void DenseLinear::forward(const float* x, int rows, float* y) const {
  const int in = in_features(), out = out_features();
  const float* w = weight_->data();
  // Split over output features: each thread streams its slice of W once and reuses each weight
  // row (hot in L1) for every input row. Several input rows share one pass over the weight row.
  // A chunk holds at least ~64k multiply-adds, so tiny matrices do not pay for waking threads.
  const size_t macs_per_output = size_t(in) * size_t(std::max(rows, 1));
  const size_t min_chunk = std::max<size_t>(16, (size_t(1) << 16) / macs_per_output);
  parallel_for(
      size_t(out),
      [&](size_t begin, size_t end) {
        for (size_t o = begin; o < end; ++o) {
          const float* wo = w + o * size_t(in);
          int r = 0;
          for (; r + 4 <= rows; r += 4) {
            float d[4];
            dot4(wo, x + size_t(r) * size_t(in), size_t(in), in, d);
            for (int k = 0; k < 4; ++k) y[size_t(r + k) * size_t(out) + o] = d[k];
          }
          for (; r < rows; ++r)
            y[size_t(r) * size_t(out) + o] = dot(wo, x + size_t(r) * size_t(in), in);
        }
      },
      min_chunk);
}

std::unique_ptr<Linear> make_linear(const model::TensorView& weight,
                                    const quant::FormatSpec& format,
                                    std::shared_ptr<const std::vector<float>> shared_fp32) {
  if (format.quantized()) return make_quant_linear(weight, format);
  require_dense_format(format);
  if (weight.shape.size() != 2)
    fail("tensor '{}' in {} should be 2-D [out, in], has {} dimensions", weight.name, weight.file,
         weight.shape.size());
  const int out = int(weight.shape[0]), in = int(weight.shape[1]);
  if (!shared_fp32)
    shared_fp32 = std::make_shared<const std::vector<float>>(to_fp32(weight, format));
  return std::make_unique<DenseLinear>(std::move(shared_fp32), in, out);
}

}  // namespace eco::engine::cpu
