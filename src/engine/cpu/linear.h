#pragma once
// One matrix multiplication of the model (a projection or the lm_head), behind an interface so
// that each weight format brings its own storage and kernel: DenseLinear holds fp32 weights (the
// values of fp32/fp16/bf16 formats after rounding); the quant layer's formats add their own
// subclasses (int8 with outlier decomposition, NF4) without touching the engine.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "model/dtype.h"
#include "quant/format.h"

namespace eco::engine::cpu {

class Linear {
 public:
  Linear(int in_features, int out_features) : in_(in_features), out_(out_features) {}
  virtual ~Linear() = default;
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  int in_features() const { return in_; }
  int out_features() const { return out_; }

  // y[r][o] = sum_i x[r][i] * W[o][i] for r in [0, rows); x is [rows, in], y is [rows, out].
  // Each y element is computed by one thread in a fixed order, so results do not depend on the
  // thread count or on which other rows are in the batch.
  virtual void forward(const float* x, int rows, float* y) const = 0;
  // Bytes the weights occupy in this engine's memory.
  virtual size_t bytes() const = 0;
  // Short name of the kernel, for Engine::describe().
  virtual std::string kind() const = 0;

 private:
  int in_, out_;
};

// fp32 weights, row-major [out, in]. The storage may be shared (tied embedding and lm_head).
class DenseLinear final : public Linear {
 public:
  DenseLinear(std::shared_ptr<const std::vector<float>> weight, int in_features, int out_features);

  void forward(const float* x, int rows, float* y) const override;
  size_t bytes() const override { return weight_->size() * sizeof(float); }
  std::string kind() const override { return "dense-fp32"; }
  const float* data() const { return weight_->data(); }

 private:
  std::shared_ptr<const std::vector<float>> weight_;
};

// Builds the Linear for a stored weight [out, in] in the requested format. `shared_fp32`, when
// given, is the already converted fp32 storage of the same tensor (tied embedding/lm_head).
// Throws eco::Error for formats this engine does not implement.
std::unique_ptr<Linear> make_linear(const model::TensorView& weight,
                                    const quant::FormatSpec& format,
                                    std::shared_ptr<const std::vector<float>> shared_fp32 = {});

}  // namespace eco::engine::cpu
