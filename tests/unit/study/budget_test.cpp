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

TEST(Budget, ExpectsFromTheSameModelThenFormatAndStartsBySize) {
  double now = 100;
  Budget b(600, 20, [&] { return now; });
  EXPECT_FALSE(b.expected(Kind::Config, "a", "fp16", 1000).has_value());
  EXPECT_TRUE(b.fits(std::nullopt));  // nothing known: a fresh call goes on
  b.took(Kind::Config, "a", "fp16", 1000, 10);
  b.took(Kind::Config, "a", "fp16", 1000, 20);
  b.took(Kind::Config, "a", "nf4", 1000, 40);
  b.took(Kind::ModelStart, "a", "", 1000, 100);
  EXPECT_DOUBLE_EQ(*b.expected(Kind::Config, "a", "fp16", 1000), 15);
  EXPECT_DOUBLE_EQ(*b.expected(Kind::Config, "a", "int8", 1000), 70.0 / 3);
  // A configuration of another model: the same format's mean, else every configuration's,
  // whatever the size.
  EXPECT_DOUBLE_EQ(*b.expected(Kind::Config, "b", "fp16", 2000), 15);
  EXPECT_DOUBLE_EQ(*b.expected(Kind::Config, "b", "nf4", 5000), 40);
  EXPECT_DOUBLE_EQ(*b.expected(Kind::Config, "b", "int8", 2000), 70.0 / 3);
  // A model's start and quality: seconds per parameter of every step of the kind, times size.
  EXPECT_DOUBLE_EQ(*b.expected(Kind::ModelStart, "b", "", 3000), 300);
  EXPECT_FALSE(b.expected(Kind::Quality, "a", "", 1000).has_value());
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
