#include "quant/int8.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/parallel.h"
#include "quant/rounding.h"

namespace eco::quant {

namespace {

void check_threshold(float threshold) {
  if (!(threshold >= 0.0f)) {
    fail("int8 outlier threshold {} is invalid: use 0 (pure int8) or a positive value such as 6.0",
         threshold);
  }
}

// 127 / absmax, or 0 for an all-zero row (bitsandbytes divides by 0 and relies on
// __float2int_rn(NaN) == 0; the codes are the same).
float int8_inverse_scale(float absmax) {
  return absmax > 0.0f ? 127.0f / absmax : 0.0f;
}

int32_t dot_int8(const int8_t* a, const int8_t* b, int64_t n) {
  int32_t acc = 0;
  for (int64_t k = 0; k < n; ++k) acc += int32_t(a[k]) * int32_t(b[k]);
  return acc;
}

}  // namespace

void quantize_int8_rows(const float* w, int64_t rows, int64_t cols, int8_t* q, float* row_absmax) {
  parallel_for(
      static_cast<size_t>(rows),
      [&](size_t r0, size_t r1) {
        for (size_t r = r0; r < r1; ++r) {
          const float* row = w + static_cast<int64_t>(r) * cols;
          int8_t* out = q + static_cast<int64_t>(r) * cols;
          float absmax = 0.0f;
          for (int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(row[c]));
          row_absmax[r] = absmax;
          const float inv = int8_inverse_scale(absmax);
          for (int64_t c = 0; c < cols; ++c) out[c] = round_to_int8(row[c] * inv);
        }
      },
      /*min_chunk=*/std::max<size_t>(1, size_t(65536 / std::max<int64_t>(1, cols))));
}

void dequantize_int8_rows(const int8_t* q, const float* row_absmax, int64_t rows, int64_t cols,
                          float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = dequantize_int8(q[r * cols + c], row_absmax[r]);
    }
  }
}

Int8Activations quantize_activations(const float* x, int rows, int64_t cols, float threshold) {
  check_threshold(threshold);
  Int8Activations a;
  a.rows = rows;
  a.cols = cols;
  a.q.assign(static_cast<size_t>(rows) * static_cast<size_t>(cols), 0);
  a.row_absmax.assign(static_cast<size_t>(rows), 0.0f);

  // Outlier columns: any row with |x| >= threshold (bitsandbytes: (A.abs() >= threshold).any(0)).
  std::vector<uint8_t> is_outlier(static_cast<size_t>(cols), 0);
  if (threshold > 0.0f) {
    for (int r = 0; r < rows; ++r) {
      const float* row = x + int64_t(r) * cols;
      for (int64_t c = 0; c < cols; ++c) is_outlier[c] |= uint8_t(std::fabs(row[c]) >= threshold);
    }
    for (int64_t c = 0; c < cols; ++c) {
      if (is_outlier[c]) a.outlier_cols.push_back(static_cast<int32_t>(c));
    }
  }

  for (int r = 0; r < rows; ++r) {
    const float* row = x + int64_t(r) * cols;
    int8_t* out = a.q.data() + int64_t(r) * cols;
    float absmax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      if (!is_outlier[c]) absmax = std::max(absmax, std::fabs(row[c]));
    }
    a.row_absmax[r] = absmax;
    const float inv = int8_inverse_scale(absmax);
    for (int64_t c = 0; c < cols; ++c) out[c] = is_outlier[c] ? 0 : round_to_int8(row[c] * inv);
  }
  return a;
}

void int8_linear_forward(const float* x, int rows, int64_t in, const int8_t* weight_q,
                         const float* weight_row_absmax, int64_t out, float threshold, float* y) {
  check_threshold(threshold);
  if (in > kInt8MaxInner) {
    fail(
        "int8 matmul with {} input features could overflow its int32 accumulator (limit {}): "
        "use nf4 or fp16 for this model",
        in, kInt8MaxInner);
  }
  if (rows <= 0 || out <= 0) return;
  const Int8Activations a = quantize_activations(x, rows, in, threshold);
  const size_t n_outliers = a.outlier_cols.size();

  // One thread computes every row of a given output feature, in a fixed order, so the result
  // does not depend on the thread count.
  parallel_for(
      static_cast<size_t>(out),
      [&](size_t o0, size_t o1) {
        std::vector<float> w_outlier(n_outliers);
        for (size_t o = o0; o < o1; ++o) {
          const int8_t* wq = weight_q + static_cast<int64_t>(o) * in;
          const float sw = weight_row_absmax[o];
          for (size_t j = 0; j < n_outliers; ++j) {
            w_outlier[j] = dequantize_int8(wq[a.outlier_cols[j]], sw);
          }
          for (int r = 0; r < rows; ++r) {
            const int32_t acc = dot_int8(a.q.data() + int64_t(r) * in, wq, in);
            const float sx = a.row_absmax[static_cast<size_t>(r)];
            float value = ((static_cast<float>(acc) * sx) * sw) * kInv127Squared;
            if (n_outliers > 0) {
              const float* xr = x + int64_t(r) * in;
              float outlier_sum = 0.0f;
              for (size_t j = 0; j < n_outliers; ++j) {
                outlier_sum += xr[a.outlier_cols[j]] * w_outlier[j];
              }
              value += outlier_sum;
            }
            y[int64_t(r) * out + static_cast<int64_t>(o)] = value;
          }
        }
      },
      /*min_chunk=*/std::max<size_t>(1, size_t(65536 / std::max<int64_t>(1, in * rows))));
}

}  // namespace eco::quant
