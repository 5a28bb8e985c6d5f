#include "quant/quantized_matrix.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "common/half.h"
#include "common/parallel.h"
#include "quant/double_quant.h"
#include "quant/int8.h"
#include "quant/nf4.h"

namespace eco::quant {

static_assert(std::endian::native == std::endian::little,
              "the stored layouts are little-endian and are written with memcpy");

namespace {

std::string_view format_label(WeightFormat f) {
  switch (f) {
    case WeightFormat::Native:
      return "native";
    case WeightFormat::F32:
      return "fp32";
    case WeightFormat::FP16:
      return "fp16";
    case WeightFormat::BF16:
      return "bf16";
    case WeightFormat::Int8:
      return "int8";
    case WeightFormat::NF4:
      return "nf4";
    case WeightFormat::NF4DQ:
      return "nf4-dq";
  }
  return "?";
}

bool is_nf4(WeightFormat f) {
  return f == WeightFormat::NF4 || f == WeightFormat::NF4DQ;
}

// Rows per parallel chunk so that each chunk has at least ~64k elements of work.
size_t rows_per_chunk(int64_t cols) {
  return std::max<size_t>(1, static_cast<size_t>(65536 / std::max<int64_t>(1, cols)));
}

void check_finite(const float* w, int64_t rows, int64_t cols, std::string_view name) {
  std::atomic<int64_t> first_bad{rows * cols};
  parallel_for(
      static_cast<size_t>(rows),
      [&](size_t r0, size_t r1) {
        const int64_t end = static_cast<int64_t>(r1) * cols;
        for (int64_t i = static_cast<int64_t>(r0) * cols; i < end; ++i) {
          if (!std::isfinite(w[i])) {
            int64_t seen = first_bad.load();
            while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
            }
            return;
          }
        }
      },
      rows_per_chunk(cols));
  const int64_t bad = first_bad.load();
  if (bad < rows * cols) {
    fail(
        "{} [{} x {}] holds a non-finite value ({}) at row {}, column {}: the model file is "
        "corrupt or was saved after a diverged run; re-export it",
        name, rows, cols, w[bad], bad / cols, bad % cols);
  }
}

// Buffers of m must have the sizes its shape implies (guards linear_forward against a
// hand-built or truncated QuantizedMatrix).
void check_consistent(const QuantizedMatrix& m) {
  const int64_t n = m.numel();
  size_t want = 0;
  bool ok = m.rows > 0 && m.cols > 0;
  switch (m.format) {
    case WeightFormat::Native:
      ok = false;
      break;
    case WeightFormat::F32:
      want = size_t(n) * 4;
      break;
    case WeightFormat::FP16:
    case WeightFormat::BF16:
      want = size_t(n) * 2;
      break;
    case WeightFormat::Int8:
      want = size_t(n);
      ok = ok && m.row_absmax.size() == size_t(m.rows);
      break;
    case WeightFormat::NF4:
      want = size_t(nf4_packed_bytes(n));
      ok = ok && m.block_absmax.size() == size_t(nf4_block_count(n));
      break;
    case WeightFormat::NF4DQ:
      want = size_t(nf4_packed_bytes(n));
      ok = ok && m.absmax_codes.size() == size_t(nf4_block_count(n)) &&
           m.absmax_scales.size() == size_t(double_quant_block_count(nf4_block_count(n)));
      break;
  }
  if (!ok || m.data.size() != want) {
    fail(
        "quantized matrix ({}, {} x {}) has buffers that do not match its shape: build it with "
        "quant::quantize_matrix",
        format_label(m.format), m.rows, m.cols);
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight partial sums in a fixed order: vectorizable without reassociating at run time.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

void store_16bit(const float* w, int64_t n, bool bf16, uint8_t* out) {
  parallel_for(
      static_cast<size_t>(n),
      [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) {
          const uint16_t h = bf16 ? float_to_bf16(w[i]) : float_to_half(w[i]);
          std::memcpy(out + 2 * i, &h, 2);
        }
      },
      65536);
}

}  // namespace

size_t quantized_bytes(WeightFormat format, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  switch (format) {
    case WeightFormat::Native:
    case WeightFormat::F32:
      return size_t(n) * 4;
    case WeightFormat::FP16:
    case WeightFormat::BF16:
      return size_t(n) * 2;
    case WeightFormat::Int8:
      return size_t(n) + size_t(rows) * 4;
    case WeightFormat::NF4:
      return size_t(nf4_packed_bytes(n) + 4 * nf4_block_count(n));
    case WeightFormat::NF4DQ: {
      const int64_t blocks = nf4_block_count(n);
      return size_t(nf4_packed_bytes(n) + blocks + 4 * double_quant_block_count(blocks) + 4);
    }
  }
  return 0;
}

size_t QuantizedMatrix::bytes() const {
  size_t total = data.size() + absmax_codes.size();
  total += sizeof(float) * (row_absmax.size() + block_absmax.size() + absmax_scales.size());
  if (format == WeightFormat::NF4DQ) total += sizeof(float);  // absmax_offset
  return total;
}

float QuantizedMatrix::nf4_block_absmax(int64_t b) const {
  if (format == WeightFormat::NF4DQ) {
    return dequantize_absmax(absmax_codes.data(), absmax_scales.data(), absmax_offset, b);
  }
  return block_absmax[static_cast<size_t>(b)];
}

QuantizedMatrix quantize_matrix(const float* w, int64_t rows, int64_t cols, const FormatSpec& spec,
                                std::string_view name) {
  if (rows <= 0 || cols <= 0) {
    fail("{} has shape [{} x {}]: a weight matrix needs at least one row and one column", name,
         rows, cols);
  }
  check_finite(w, rows, cols, name);
  const int64_t n = rows * cols;

  QuantizedMatrix m;
  m.format = spec.format == WeightFormat::Native ? WeightFormat::F32 : spec.format;
  m.rows = rows;
  m.cols = cols;
  switch (m.format) {
    case WeightFormat::Native:
    case WeightFormat::F32:
      m.data.resize(size_t(n) * 4);
      std::memcpy(m.data.data(), w, size_t(n) * 4);
      break;
    case WeightFormat::FP16:
    case WeightFormat::BF16:
      m.data.resize(size_t(n) * 2);
      store_16bit(w, n, m.format == WeightFormat::BF16, m.data.data());
      break;
    case WeightFormat::Int8:
      if (cols > kInt8MaxInner) {
        fail("{} has {} input features; int8 supports at most {} (int32 accumulator): use nf4",
             name, cols, kInt8MaxInner);
      }
      if (!(spec.int8_threshold >= 0.0f)) {
        fail("int8 outlier threshold {} is invalid: use 0 (pure int8) or a positive value",
             spec.int8_threshold);
      }
      m.int8_threshold = spec.int8_threshold;
      m.data.resize(size_t(n));
      m.row_absmax.resize(size_t(rows));
      quantize_int8_rows(w, rows, cols, reinterpret_cast<int8_t*>(m.data.data()),
                         m.row_absmax.data());
      break;
    case WeightFormat::NF4:
    case WeightFormat::NF4DQ: {
      const int64_t blocks = nf4_block_count(n);
      m.data.resize(size_t(nf4_packed_bytes(n)));
      m.block_absmax.resize(size_t(blocks));
      quantize_nf4(w, n, m.data.data(), m.block_absmax.data());
      if (m.format == WeightFormat::NF4DQ) {
        m.absmax_codes.resize(size_t(blocks));
        m.absmax_scales.resize(size_t(double_quant_block_count(blocks)));
        double_quantize_absmax(m.block_absmax.data(), blocks, m.absmax_codes.data(),
                               m.absmax_scales.data(), &m.absmax_offset);
        m.block_absmax = {};  // the fp32 absmax is not part of the nf4-dq format
      }
      break;
    }
  }
  return m;
}

void dequantize_rows(const QuantizedMatrix& m, int64_t first, int64_t count, float* out) {
  const int64_t begin = first * m.cols;
  const int64_t end = (first + count) * m.cols;
  const uint8_t* data = m.data.data();
  switch (m.format) {
    case WeightFormat::Native:
    case WeightFormat::F32:
      std::memcpy(out, data + begin * 4, size_t(end - begin) * 4);
      break;
    case WeightFormat::FP16:
    case WeightFormat::BF16: {
      const bool bf16 = m.format == WeightFormat::BF16;
      for (int64_t i = begin; i < end; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i - begin] = bf16 ? bf16_to_float(h) : half_to_float(h);
      }
      break;
    }
    case WeightFormat::Int8: {
      const auto* q = reinterpret_cast<const int8_t*>(data);
      for (int64_t r = first; r < first + count; ++r) {
        const float absmax = m.row_absmax[size_t(r)];
        for (int64_t c = 0; c < m.cols; ++c) {
          out[(r - first) * m.cols + c] = dequantize_int8(q[r * m.cols + c], absmax);
        }
      }
      break;
    }
    case WeightFormat::NF4:
    case WeightFormat::NF4DQ: {
      // Blocks run over the flattened matrix, so a row may start or end inside a block.
      int64_t i = begin;
      while (i < end) {
        const int64_t block = i / kNF4BlockSize;
        const int64_t block_end = std::min((block + 1) * kNF4BlockSize, end);
        const float absmax = m.nf4_block_absmax(block);
        for (; i < block_end; ++i) out[i - begin] = nf4_decode(nf4_code_at(data, i), absmax);
      }
      break;
    }
  }
}

void dequantize_matrix(const QuantizedMatrix& m, float* out) {
  check_consistent(m);
  parallel_for(
      static_cast<size_t>(m.rows),
      [&](size_t r0, size_t r1) {
        dequantize_rows(m, int64_t(r0), int64_t(r1 - r0), out + int64_t(r0) * m.cols);
      },
      rows_per_chunk(m.cols));
}

std::vector<float> dequantize_matrix(const QuantizedMatrix& m) {
  std::vector<float> out(size_t(m.numel()));
  dequantize_matrix(m, out.data());
  return out;
}

void linear_forward(const QuantizedMatrix& m, const float* x, int rows, float* y) {
  check_consistent(m);
  if (m.format == WeightFormat::Int8) {
    int8_linear_forward(x, rows, m, m.int8_threshold, y);
    return;
  }
  if (rows <= 0) return;
  const int64_t in = m.cols;
  const int64_t out = m.rows;
  parallel_for(
      static_cast<size_t>(out),
      [&](size_t o0, size_t o1) {
        std::vector<float> w_row(static_cast<size_t>(in));
        for (size_t o = o0; o < o1; ++o) {
          dequantize_rows(m, int64_t(o), 1, w_row.data());
          for (int r = 0; r < rows; ++r) {
            y[int64_t(r) * out + int64_t(o)] = dot_f32(x + int64_t(r) * in, w_row.data(), in);
          }
        }
      },
      std::max<size_t>(1, size_t(65536 / std::max<int64_t>(1, in * rows))));
}

void nf4_linear_forward(const float* x, int rows, const QuantizedMatrix& m, float* y) {
  if (!is_nf4(m.format)) {
    fail("nf4_linear_forward called with a {} matrix: use linear_forward", format_label(m.format));
  }
  linear_forward(m, x, rows, y);
}

void int8_linear_forward(const float* x, int rows, const QuantizedMatrix& m, float threshold,
                         float* y) {
  if (m.format != WeightFormat::Int8) {
    fail("int8_linear_forward called with a {} matrix: use linear_forward", format_label(m.format));
  }
  check_consistent(m);
  int8_linear_forward(x, rows, m.cols, reinterpret_cast<const int8_t*>(m.data.data()),
                      m.row_absmax.data(), m.rows, threshold, y);
}

}  // namespace eco::quant
