#include "quant/quantized_matrix.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "common/half.h"
#include "quant/int8.h"
#include "random_data.h"

namespace eco::quant {
namespace {

using ::testing::HasSubstr;

const char* kAllFormats[] = {"fp32", "fp16", "bf16", "int8", "int8-pure", "nf4", "nf4-dq"};

TEST(QuantizedMatrix, BytesMatchTheLayoutFormulas) {
  // 4096 x 4096 (a 7B attention projection).
  EXPECT_EQ(quantized_bytes(WeightFormat::FP16, 4096, 4096), 33554432u);
  EXPECT_EQ(quantized_bytes(WeightFormat::Int8, 4096, 4096), 16777216u + 4096u * 4);
  EXPECT_EQ(quantized_bytes(WeightFormat::NF4, 4096, 4096), 8388608u + 262144u * 4);
  EXPECT_EQ(quantized_bytes(WeightFormat::NF4DQ, 4096, 4096), 8388608u + 262144u + 1024u * 4 + 4);
  // Odd element count and a partial 64-block / 256-block: 5 x 77 = 385 elements.
  EXPECT_EQ(quantized_bytes(WeightFormat::NF4, 5, 77), 193u + 7u * 4);
  EXPECT_EQ(quantized_bytes(WeightFormat::NF4DQ, 5, 77), 193u + 7u + 1u * 4 + 4);

  const uint64_t seed = testing::fresh_seed();
  const std::vector<float> w = testing::normal_values(5 * 77, 1.0f, seed);
  for (const char* name : kAllFormats) {
    SCOPED_TRACE(name);
    const QuantizedMatrix m = quantize_matrix(w.data(), 5, 77, parse_format(name));
    EXPECT_EQ(m.bytes(), quantized_bytes(m.format, 5, 77));
    EXPECT_DOUBLE_EQ(m.bytes_per_weight(), double(m.bytes()) / 385.0);
  }
}

TEST(QuantizedMatrix, FloatFormatsStoreRoundedValues) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const std::vector<float> w = testing::normal_values(6 * 10, 3.0f, seed);
  const std::vector<float> f32 =
      dequantize_matrix(quantize_matrix(w.data(), 6, 10, parse_format("fp32")));
  const std::vector<float> native =
      dequantize_matrix(quantize_matrix(w.data(), 6, 10, parse_format("native")));
  const std::vector<float> f16 =
      dequantize_matrix(quantize_matrix(w.data(), 6, 10, parse_format("fp16")));
  const std::vector<float> b16 =
      dequantize_matrix(quantize_matrix(w.data(), 6, 10, parse_format("bf16")));
  EXPECT_EQ(f32, w);
  EXPECT_EQ(native, w);
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(f16[i], round_to_half(w[i]));
    EXPECT_EQ(b16[i], round_to_bf16(w[i]));
  }
  // fp16 little-endian: 1.0 = 0x3C00 -> bytes 00 3C.
  const float one = 1.0f;
  const QuantizedMatrix h = quantize_matrix(&one, 1, 1, parse_format("fp16"));
  EXPECT_EQ(h.data, (std::vector<uint8_t>{0x00, 0x3C}));
}

TEST(QuantizedMatrix, Int8KeepsThresholdAndLayout) {
  const std::vector<float> w = {-1.0f, 0.5f, 0.0f, 2.0f};
  const QuantizedMatrix m = quantize_matrix(w.data(), 2, 2, parse_format("int8"));
  EXPECT_EQ(m.int8_threshold, 6.0f);
  EXPECT_EQ(quantize_matrix(w.data(), 2, 2, parse_format("int8-pure")).int8_threshold, 0.0f);
  // Row 0: absmax 1, codes -127 and 0.5 * 127 = 63.5 -> 64; row 1: absmax 2, codes 0, 127.
  EXPECT_EQ(m.data, (std::vector<uint8_t>{0x81, 64, 0, 127}));
  EXPECT_EQ(m.row_absmax, (std::vector<float>{1.0f, 2.0f}));
}

TEST(QuantizedMatrix, LinearForwardMatchesMatmulOfDequantizedWeights) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int rows = 3;
  const int64_t out = 24, in = 100;  // in % 64 != 0: NF4 blocks straddle rows
  const std::vector<float> w = testing::rows_of_varying_scale(out, in, seed);
  const std::vector<float> x = testing::normal_values(size_t(rows * in), 1.0f, seed + 1);
  for (const char* name : {"fp32", "fp16", "bf16", "nf4", "nf4-dq"}) {
    SCOPED_TRACE(name);
    const QuantizedMatrix m = quantize_matrix(w.data(), out, in, parse_format(name));
    const std::vector<float> dequantized = dequantize_matrix(m);
    const std::vector<double> ref = testing::matmul_ref(x, rows, dequantized, out, in);
    const std::vector<double> bound =
        testing::float_matmul_error_bound(x, rows, dequantized, out, in);
    std::vector<float> y(static_cast<size_t>(rows * out));
    linear_forward(m, x.data(), rows, y.data());
    // Float rounding only: a wrong weight, scale or index errs by a whole term, about 1/in of
    // the magnitudes' sum, far above in x 2^-24 of it.
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], ref[i], bound[i]) << i;
    }
    if (name[0] == 'n') {
      std::vector<float> y2(y.size());
      nf4_linear_forward(x.data(), rows, m, y2.data());
      EXPECT_EQ(y2, y);
    }
  }
  // Int8 goes through the LLM.int8() arithmetic with the matrix's own threshold.
  const QuantizedMatrix m8 = quantize_matrix(w.data(), out, in, parse_format("int8"));
  std::vector<float> y_dispatch(size_t(rows * out)), y_direct(size_t(rows * out));
  linear_forward(m8, x.data(), rows, y_dispatch.data());
  int8_linear_forward(x.data(), rows, in, reinterpret_cast<const int8_t*>(m8.data.data()),
                      m8.row_absmax.data(), out, 6.0f, y_direct.data());
  EXPECT_EQ(y_dispatch, y_direct);
}

TEST(QuantizedMatrix, RowsDoNotDependOnTheRestOfTheBatch) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE(seed);
  const int rows = 4;
  const int64_t out = 16, in = 128;
  const std::vector<float> w = testing::normal_values(size_t(out * in), 0.1f, seed);
  const std::vector<float> x = testing::normal_values(size_t(rows * in), 1.0f, seed + 1);
  for (const char* name : {"fp16", "int8-pure", "nf4", "nf4-dq"}) {
    SCOPED_TRACE(name);
    const QuantizedMatrix m = quantize_matrix(w.data(), out, in, parse_format(name));
    std::vector<float> batch(static_cast<size_t>(rows * out));
    linear_forward(m, x.data(), rows, batch.data());
    for (int r = 0; r < rows; ++r) {
      std::vector<float> single(static_cast<size_t>(out));
      linear_forward(m, x.data() + r * in, 1, single.data());
      for (int64_t o = 0; o < out; ++o) EXPECT_EQ(single[size_t(o)], batch[size_t(r * out + o)]);
    }
  }
}

TEST(QuantizedMatrix, RejectsBadInput) {
  std::vector<float> w(12, 1.0f);
  w[6] = std::numeric_limits<float>::quiet_NaN();  // row 1, column 2 of a 3 x 4 matrix
  try {
    quantize_matrix(w.data(), 3, 4, parse_format("nf4"), "model.layers.0.mlp.up_proj.weight");
    FAIL() << "expected eco::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("model.layers.0.mlp.up_proj.weight"));
    EXPECT_THAT(e.what(), HasSubstr("row 1, column 2"));
  }
  w[6] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_matrix(w.data(), 3, 4, parse_format("int8")), Error);
  EXPECT_THROW(quantize_matrix(w.data(), 0, 4, parse_format("int8")), Error);

  w[6] = 0.0f;
  FormatSpec bad = parse_format("int8");
  bad.int8_threshold = -1.0f;
  EXPECT_THROW(quantize_matrix(w.data(), 3, 4, bad), Error);

  QuantizedMatrix m = quantize_matrix(w.data(), 3, 4, parse_format("nf4"));
  std::vector<float> x(4, 1.0f), y(3);
  EXPECT_THROW(int8_linear_forward(x.data(), 1, m, 6.0f, y.data()), Error);
  m.data.pop_back();  // truncated buffer
  EXPECT_THROW(linear_forward(m, x.data(), 1, y.data()), Error);
  const QuantizedMatrix m8 = quantize_matrix(w.data(), 3, 4, parse_format("int8"));
  EXPECT_THROW(nf4_linear_forward(x.data(), 1, m8, y.data()), Error);
}

}  // namespace
}  // namespace eco::quant
