// NaN or infinite weights make the model's output meaningless; greedy decoding used to pick
// token 0 from NaN logits and the run counted as valid. Now the run fails with the reason.
#include "engine/finite_logits.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/generate.h"
#include "test_model.h"

namespace eco::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string generate_error(const model::ModelWeights& w, const char* format) {
  EngineOptions o;
  o.device = DeviceKind::Cpu;
  o.format = quant::parse_format(format);
  o.max_batch = 2;
  try {
    auto e = cpu::create_cpu_engine(w, o);
    generate(*e, {{1, 2, 3}, {4, 5}}, 4);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void poison(const model::TensorView& t, int64_t index, float value) {
  ASSERT_EQ(t.dtype, model::DType::F32);
  std::memcpy(const_cast<std::byte*>(t.data) + index * 4, &value, 4);
}

TEST(FiniteLogits, CheckNamesWhereAndWhat) {
  const float ok[] = {0.5f, -1.0f, 3.0f, 2.0f};
  EXPECT_NO_THROW(check_finite_logits(ok, 2, "prefill"));
  const float bad[] = {0.5f, -1.0f, 3.0f, std::numeric_limits<float>::quiet_NaN()};
  try {
    check_finite_logits(bad, 2, "decode step 7");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("decode step 7"), HasSubstr("logit 1 of row 1"),
                                HasSubstr("nan"), HasSubstr("not a number")));
  }
  const float inf[] = {std::numeric_limits<float>::infinity()};
  EXPECT_THROW(check_finite_logits(inf, 1, "x"), Error);
}

TEST(FiniteLogits, NanWeightFailsTheRunInEveryFloatFormat) {
  for (const char* format : {"native", "fp32", "fp16", "bf16"}) {
    auto m = test::make_test_model({}, 3);
    poison(m->weights.final_norm, 5, std::numeric_limits<float>::quiet_NaN());
    EXPECT_THAT(generate_error(m->weights, format), HasSubstr("not a number")) << format;
  }
}

TEST(FiniteLogits, InfiniteWeightFailsTheRun) {
  auto m = test::make_test_model({}, 4);
  poison(m->weights.layers[1].w_down, 0, std::numeric_limits<float>::infinity());
  EXPECT_THAT(generate_error(m->weights, "native"), HasSubstr("not a number"));
}

TEST(FiniteLogits, HealthyModelIsUnaffected) {
  auto m = test::make_test_model({}, 5);
  EXPECT_EQ(generate_error(m->weights, "native"), "no error");
}

}  // namespace
}  // namespace eco::engine
