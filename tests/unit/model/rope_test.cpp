// RoPE tables against values computed by hand from transformers' formulas (modeling_rope_utils),
// on shapes small enough to follow: head_dim 4 or 8 and theta 10000, so the unscaled inverse
// frequencies are the powers of ten 1, 0.1, 0.01, 0.001 (head_dim 8) or 1, 0.01 (head_dim 4).
#include "model/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "common/error.h"

namespace eco::model {
namespace {

ModelConfig shape(int head_dim, RopeType type) {
  ModelConfig c;
  c.hidden_size = 4 * head_dim;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = head_dim;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000.0f;
  c.rope.type = type;
  return c;
}

// Relative comparison: transformers' tables are fp32, so 1e-6 is a few float ulps.
void expect_table(const RopeTable& t, std::vector<double> inv, double scaling) {
  ASSERT_EQ(t.inv_freq.size(), inv.size());
  for (size_t i = 0; i < inv.size(); ++i)
    EXPECT_NEAR(t.inv_freq[i], inv[i], 1e-6 * inv[i]) << "inv_freq[" << i << "]";
  EXPECT_NEAR(t.attention_scaling, scaling, 1e-6 * scaling);
}

TEST(Rope, DefaultIsThetaToTheMinusTwoIOverD) {
  expect_table(rope_table(shape(8, RopeType::Default), 10), {1, 0.1, 0.01, 0.001}, 1.0);
  ModelConfig c = shape(4, RopeType::Default);
  c.rope_theta = 500000.0f;  // sqrt(500000) = 707.107
  expect_table(rope_table(c, 10), {1, 1 / std::sqrt(500000.0)}, 1.0);
}

TEST(Rope, LinearDividesEveryFrequency) {
  ModelConfig c = shape(4, RopeType::Linear);
  c.rope.factor = 4.0;
  expect_table(rope_table(c, 10), {0.25, 0.0025}, 1.0);
}

TEST(Rope, DynamicGrowsTheBasePastMaxPositions) {
  ModelConfig c = shape(4, RopeType::Dynamic);
  c.max_position_embeddings = 16;
  c.rope.factor = 2.0;
  // Up to 16 positions: the plain table.
  expect_table(rope_table(c, 16), {1, 0.01}, 1.0);
  expect_table(rope_table(c, 3), {1, 0.01}, 1.0);
  // 32 positions: base 10000 * (2 * 32 / 16 - 1)^(4 / 2) = 90000, so the second frequency is
  // 1 / sqrt(90000) = 1 / 300.
  expect_table(rope_table(c, 32), {1, 1.0 / 300.0}, 1.0);
}

TEST(Rope, Llama3KeepsHighFrequenciesScalesLowOnesAndSmoothsBetween) {
  ModelConfig c = shape(8, RopeType::Llama3);
  c.rope.factor = 8.0;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  c.rope.original_max_positions = 1024;
  // Wavelengths 2 pi / f: 6.28, 62.8, 628, 6283. Below 1024 / 4 = 256 kept; above 1024 / 1
  // divided by 8; 628 in between: smooth = (1024 / 628.3 - 1) / (4 - 1) = 0.209916, frequency
  // 0.01 * ((1 - smooth) / 8 + smooth) = 0.00308676.
  expect_table(rope_table(c, 10), {1, 0.1, 0.00308676097, 0.001 / 8}, 1.0);
}

TEST(Rope, YarnRampsBetweenInterpolationAndExtrapolation) {
  ModelConfig c = shape(8, RopeType::Yarn);
  c.rope.factor = 4.0;
  c.rope.original_max_positions = 2048;
  // Correction dims 8 ln(2048 / (2 pi r)) / (2 ln 10000): r = 32 -> 1.008 (floor 1), r = 1 ->
  // 2.513 (ceil 3). Ramp (i - 1) / 2 clamped: 0, 0, 0.5, 1; frequency i is
  // f / 4 * ramp + f * (1 - ramp). Attention factor 0.1 ln 4 + 1.
  const double attention = 0.1 * std::log(4.0) + 1.0;
  expect_table(rope_table(c, 10), {1, 0.1, 0.00625, 0.00025}, attention);
  // Without truncation the range is [1.008, 2.513]: ramp at i = 2 is 0.659, frequency
  // 0.0025 * 0.659 + 0.01 * 0.341 = 0.00505697.
  c.rope.truncate = false;
  expect_table(rope_table(c, 10), {1, 0.1, 0.00505697152, 0.00025}, attention);
  // mscale / mscale_all_dim: (0.1 * 1 * ln 4 + 1) / (0.1 * 0.5 * ln 4 + 1).
  c.rope.mscale = 1.0;
  c.rope.mscale_all_dim = 0.5;
  EXPECT_NEAR(rope_table(c, 10).attention_scaling, 1.06482163, 1e-6);
  c.rope.attention_factor = 0.9;  // given: used as is
  EXPECT_FLOAT_EQ(rope_table(c, 10).attention_scaling, 0.9f);
}

TEST(Rope, LongRopeSwitchesFactorsPastTheOriginalContext) {
  ModelConfig c = shape(4, RopeType::LongRope);
  c.rope.short_factor = {1.0, 2.0};
  c.rope.long_factor = {4.0, 8.0};
  c.rope.original_max_positions = 16;
  c.rope.factor = 4.0;  // 64 / 16, as the parser derives it for Phi-3
  const double attention = std::sqrt(1.0 + std::log(4.0) / std::log(16.0));  // sqrt(1.5)
  expect_table(rope_table(c, 16), {1.0, 0.005}, attention);
  expect_table(rope_table(c, 17), {0.25, 0.00125}, attention);
  c.rope.factor = 1.0;  // no extension: no magnitude scaling
  EXPECT_EQ(rope_table(c, 17).attention_scaling, 1.0f);
}

TEST(Rope, ScheduleNamesTheTablesAContextNeeds) {
  ModelConfig c = shape(4, RopeType::Dynamic);
  c.max_position_embeddings = 16;
  c.rope.factor = 2.0;
  RopeSchedule s = rope_schedule(c, 20);
  EXPECT_EQ(s.count, 5);  // lengths <= 16, then 17, 18, 19, 20
  EXPECT_EQ(s.index(1), 0);
  EXPECT_EQ(s.index(16), 0);
  EXPECT_EQ(s.index(17), 1);
  EXPECT_EQ(s.index(20), 4);
  EXPECT_EQ(s.seq_len_of(4), 20);
  EXPECT_EQ(rope_table(c, s.seq_len_of(s.index(18))), rope_table(c, 18));
  EXPECT_EQ(rope_schedule(c, 16).count, 1);

  ModelConfig l = shape(4, RopeType::LongRope);
  l.rope.short_factor = {1.0, 1.0};
  l.rope.long_factor = {2.0, 2.0};
  l.rope.original_max_positions = 16;
  s = rope_schedule(l, 64);
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.index(16), 0);
  EXPECT_EQ(s.index(17), 1);
  EXPECT_EQ(s.index(64), 1);
  EXPECT_EQ(rope_schedule(l, 16).count, 1);
  EXPECT_EQ(rope_schedule(shape(4, RopeType::Llama3), 1 << 20).count, 1);
}

TEST(Rope, OddHeadDimIsRefused) {
  ModelConfig c = shape(4, RopeType::Default);
  c.head_dim = 5;
  EXPECT_THROW(rope_table(c, 1), Error);
}

}  // namespace
}  // namespace eco::model
