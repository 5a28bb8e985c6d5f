#include "study/budget.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace {

using eco::study::Budget;
using eco::study::parse_duration;
using Kind = Budget::Kind;

TEST(Budget, ParsesDurations) {
  EXPECT_DOUBLE_EQ(parse_duration("8m", "--budget"), 480);
  EXPECT_DOUBLE_EQ(parse_duration("90s", "--budget"), 90);
  EXPECT_DOUBLE_EQ(parse_duration("1h30m", "--budget"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration("2.5m", "--budget"), 150);
  EXPECT_DOUBLE_EQ(parse_duration("500", "--budget"), 500);
  for (const char* bad : {"", "8x", "m", "-3m", "8m-"})
    EXPECT_THROW(parse_duration(bad, "--budget"), eco::Error) << bad;
}

TEST(Budget, ExpectsConfigurationsByTheEtaRuleAndStartsBySize) {
  double now = 100;
  Budget b(600, 20, [&] { return now; });
  EXPECT_FALSE(b.expected_config({"a", "fp16", 1}).has_value());
  EXPECT_TRUE(b.fits(std::nullopt));  // nothing known: a fresh call goes on
  b.took_config({"a", "fp16", 1}, 10);
  b.took_config({"a", "fp16", 1}, 20);
  b.took_config({"a", "nf4", 1}, 40);
  b.took_config({"a", "nf4", 128}, 81);
  b.took(Kind::ModelStart, "a", 1000, 100);
  EXPECT_DOUBLE_EQ(*b.expected_config({"a", "fp16", 1}), 15);
  // Another model: the same format and batch; a batch not measured: the format's mean here.
  EXPECT_DOUBLE_EQ(*b.expected_config({"b", "nf4", 128}), 81);
  EXPECT_DOUBLE_EQ(*b.expected_config({"b", "nf4", 1}), 40);
  EXPECT_DOUBLE_EQ(*b.expected_config({"a", "fp16", 64}), 15);
  // A format not measured: the model's mean.
  EXPECT_DOUBLE_EQ(*b.expected_config({"a", "int8", 1}), 151.0 / 4);
  // A model's start and quality: the same model's, else seconds per parameter times size.
  EXPECT_DOUBLE_EQ(*b.expected(Kind::ModelStart, "a", 1000), 100);
  EXPECT_DOUBLE_EQ(*b.expected(Kind::ModelStart, "b", 3000), 300);
  EXPECT_FALSE(b.expected(Kind::Quality, "a", 1000).has_value());
}

TEST(Budget, StopsBeforeTheDeadlineLessTheReserve) {
  double now = 0;
  Budget b(600, 20, [&] { return now; });
  EXPECT_DOUBLE_EQ(b.left(), 580);
  EXPECT_TRUE(b.fits(580.0));
  EXPECT_FALSE(b.fits(581.0));
  now = 500;
  EXPECT_TRUE(b.fits(80.0));
  EXPECT_FALSE(b.fits(81.0));
  Budget unlimited(0, 20, [&] { return now; });
  EXPECT_TRUE(unlimited.fits(1e9));
}

}  // namespace
