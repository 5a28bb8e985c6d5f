// The sweep's pure parts: planning and its resume rules, the ETA, the repetition and CI rules,
// and the sweep file's range checks.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/eta.h"
#include "bench/idle.h"
#include "bench/measure.h"
#include "bench/plan.h"
#include "bench/sweep_spec.h"
#include "common/error.h"

namespace eco::bench {
namespace {

using store::ConfigStatus;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

std::vector<PlannedConfig> two_by_two() {
  return enumerate_configurations({"a", "b"}, {"fp16", "int8"}, {4, 1}, {{8}, {8}}, {16});
}

TEST(PlanSweep, OrdersByModelThenFormatThenBatch) {
  const auto plan = two_by_two();
  ASSERT_EQ(plan.size(), 8u);
  std::vector<std::string> labels;
  for (const auto& p : plan) labels.push_back(p.label);
  EXPECT_EQ(labels[0], "a fp16 batch 1 prompt 8 gen 16");
  EXPECT_EQ(labels[1], "a fp16 batch 4 prompt 8 gen 16");
  EXPECT_EQ(labels[2], "a int8 batch 1 prompt 8 gen 16");
  EXPECT_EQ(labels[4], "b fp16 batch 1 prompt 8 gen 16");
}

TEST(PlanSweep, ResumeKeepsDoneRedoesRunningAndRetriesFailed) {
  auto plan = two_by_two();
  plan[0].existing = ExistingConfig{11, ConfigStatus::Done};
  plan[1].existing = ExistingConfig{12, ConfigStatus::Running};
  plan[2].existing = ExistingConfig{13, ConfigStatus::Failed};
  plan[3].existing = ExistingConfig{14, ConfigStatus::Pending};
  PlanRules rules{true, true, "s.db", "cpu"};
  plan_sweep(plan, rules);
  EXPECT_EQ(plan[0].action, PlanAction::Skip);
  EXPECT_EQ(plan[1].action, PlanAction::Redo);
  EXPECT_EQ(plan[2].action, PlanAction::Retry);
  EXPECT_EQ(plan[3].action, PlanAction::Redo);
  EXPECT_EQ(plan[4].action, PlanAction::Measure);
  EXPECT_EQ(plan[2].config_id, 13);
  // --no-retry-failed keeps the failure as it is.
  rules.retry_failed = false;
  plan_sweep(plan, rules);
  EXPECT_EQ(plan[2].action, PlanAction::Skip);
  EXPECT_EQ(plan[1].action, PlanAction::Redo);
}

TEST(PlanSweep, ExistingWithoutResumeOrWithAnotherPromptIsRefused) {
  auto plan = two_by_two();
  plan[5].existing = ExistingConfig{1, ConfigStatus::Done};
  EXPECT_THAT(
      [&] {
        plan_sweep(plan, {false, true, "s.db", "cpu"});
      },
      ThrowsMessage<Error>(HasSubstr("pass --resume")));
  plan[5].existing->same_prompt = false;
  plan[5].existing->stored_prompt = "--prompt";
  EXPECT_THAT(
      [&] {
        plan_sweep(plan, {true, true, "s.db", "cpu"});
      },
      ThrowsMessage<Error>(HasSubstr("measured with another prompt (--prompt)")));
}

TEST(Eta, SameModelAndFormatPredictsTheRest) {
  // Configurations take 10 s in fp16 and 20 s in int8 on either model (windows of fixed
  // length); loads take 5 s per 1000 parameters (model 1 has 3x model 0's).
  std::vector<EtaEstimator::Item> items;
  for (size_t m = 0; m < 2; ++m)
    for (const char* f : {"fp16", "int8"})
      for (int b = 0; b < 3; ++b) items.push_back({m, f});
  EtaEstimator eta(items, {1000, 3000});
  EXPECT_FALSE(eta.seconds_left().has_value());
  eta.model_loaded(0, 5);
  eta.finished(0, 10);
  // Every other configuration at the only time known (10 s), one more load scaled by size.
  EXPECT_DOUBLE_EQ(*eta.seconds_left(), 11 * 10 + 15);
  for (size_t i = 1; i < 3; ++i) eta.finished(i, 10);
  eta.finished(3, 20);
  // Model 0's two int8 left at 20 s; model 1 by format: 3 x 10 + 3 x 20; its load 15 s.
  const double truth = 2 * 20 + 3 * 10 + 3 * 20 + 15;
  EXPECT_DOUBLE_EQ(*eta.seconds_left(), truth);
  for (size_t i = 4; i < 6; ++i) eta.finished(i, 20);
  eta.model_loaded(1, 15);
  eta.finished(6, 11);  // model 1 runs a little slower: its own fp16 time takes over
  EXPECT_DOUBLE_EQ(*eta.seconds_left(), 2 * 11 + 3 * 20);
  eta.finished(9, 24);  // and its own int8 time
  EXPECT_DOUBLE_EQ(*eta.seconds_left(), 2 * 11 + 2 * 24);
}

TEST(Eta, ExpectedConfigurationTimeFollowsBatchAndFormatBeforeModel) {
  using eco::bench::ConfigKey;
  using eco::bench::ConfigTime;
  using eco::bench::expected_config_seconds;
  EXPECT_FALSE(expected_config_seconds({}, {"m", "fp16", 1}).has_value());
  const std::vector<ConfigTime> done{{{"a", "nf4", 1}, 20},   {{"a", "nf4", 1}, 24},
                                     {{"a", "nf4", 128}, 80}, {{"b", "nf4", 128}, 90},
                                     {{"b", "fp16", 1}, 30},  {{"c", "int8", 8}, 16}};
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"a", "nf4", 1}), 22);          // its own
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"c", "nf4", 128}), 85);        // format + batch
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"a", "nf4", 64}), 124.0 / 3);  // model+format
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"c", "fp16", 8}), 30);    // format elsewhere
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"c", "nf4-dq", 1}), 16);  // its model
  EXPECT_DOUBLE_EQ(*expected_config_seconds(done, {"d", "nf4-dq", 1}), 260.0 / 6);  // all
}

TEST(Repetitions, WindowSpansTheCounterUpdates) {
  ProtocolOptions p;
  p.min_counter_updates = 10;
  p.sample_interval_s = 0.1;
  p.max_repetitions = 1000;
  EXPECT_EQ(repetitions_for(2.0, 10, p), 1);      // a 2 s phase at 10 updates/s: 20 updates
  EXPECT_EQ(repetitions_for(0.05, 10, p), 20);    // 0.5 updates per phase
  EXPECT_EQ(repetitions_for(0.05, 0, p), 20);     // rate unknown: the sampler's bound
  EXPECT_EQ(repetitions_for(1e-6, 10, p), 1000);  // capped
  p.min_counter_updates = 0;
  EXPECT_EQ(repetitions_for(1e-6, 10, p), 1);
}

TEST(AdaptiveRuns, StopsWhenTheCiIsWithinTarget) {
  // n = 5, mean 100, sd 0.79: half-width t(0.975, 4) * 0.79 / sqrt(5) = 0.98 -> 0.98 %.
  const std::vector<double> xs{99, 100, 101, 99.5, 100.5};
  const double sd = std::sqrt((1 + 0 + 1 + 0.25 + 0.25) / 4.0);
  EXPECT_NEAR(relative_ci_half_width(xs), 2.7764451 * sd / std::sqrt(5.0) / 100, 1e-6);
  EXPECT_FALSE(ci_within(xs, 0.009));
  EXPECT_TRUE(ci_within(xs, 0.011));
  EXPECT_FALSE(ci_within({100}, 0.5));  // one value: no interval
  EXPECT_TRUE(std::isnan(relative_ci_half_width({NAN, 3})));
}

TEST(IdleDrift, RelativeToTheBaseline) {
  const auto d = idle_drift({100, 50, NAN}, {103, 45, 70});
  EXPECT_NEAR(d[0], 0.03, 1e-12);
  EXPECT_NEAR(d[1], -0.1, 1e-12);
  EXPECT_TRUE(std::isnan(d[2]));
}

TEST(SweepSpec, RepeatedValuesAreMeasuredOnce) {
  SweepSpec s;
  s.models = {"models/tiny", "models/tiny/", "./models/tiny", "synthetic:tiny", "synthetic:tiny"};
  s.formats = {"fp16", "fp16", "int8"};
  s.batches = {1, 1, 8, 1};
  s.prompt_lens = {4, 4};
  s.gen_lens = {2, 3, 2};
  s.normalize();
  EXPECT_EQ(s.models, (std::vector<std::string>{"models/tiny", "synthetic:tiny"}));
  EXPECT_EQ(s.formats, (std::vector<std::string>{"fp16", "int8"}));
  EXPECT_EQ(s.batches, (std::vector<int>{1, 8}));
  EXPECT_EQ(s.prompt_lens, (std::vector<int>{4}));
  EXPECT_EQ(s.gen_lens, (std::vector<int>{2, 3}));
}

TEST(SweepFile, IntegersAreRangeCheckedBeforeNarrowing) {
  auto refused = [](const char* json, const char* what) {
    EXPECT_THAT([&] { parse_sweep_json(json, "s.json"); }, ThrowsMessage<Error>(HasSubstr(what)))
        << json;
  };
  refused(R"({"batches": [4294967297]})", "'batches' (each value) must be an integer from 1");
  refused(R"({"batches": 9223372036854775807})", "got 9223372036854775807");
  refused(R"({"protocol": {"runs": 4294967298}})", "protocol key 'runs' must be an integer");
  refused(R"({"protocol": {"warmup": 4294967296}})", "'warmup' must be an integer from");
  refused(R"({"protocol": {"runs": 1e10}})", "'runs' must be an integer (got 10000000000.0)");
  refused(R"({"protocol": {"store_timeline": 1}})", "'store_timeline' must be true or false");
  refused(R"({"protocol": {"windows": "fast"}})", "\"aligned\" or \"plain\"");
  refused(R"({"gen_lens": [1]})", "'gen_lens' (each value) must be an integer from 2");
  refused(R"({"protocol": {"prompt_seed": -1}})", "'prompt_seed' must be an integer from 0");
  const auto s =
      parse_sweep_json(R"({"batches": [1, 2147483647], "protocol": {"runs": 40}})", "s.json");
  EXPECT_EQ(s.batches.back(), 2147483647);
  EXPECT_EQ(s.protocol.max_runs, 40);  // runs above the default cap raise the cap
}

// The prefill window's minimum: half the decode window's unless set, none without a minimum.
TEST(ProtocolOptions, PrefillWindowUpdates) {
  ProtocolOptions p;
  EXPECT_EQ(prefill_min_counter_updates(p), 5);
  p.min_counter_updates = 1;
  EXPECT_EQ(prefill_min_counter_updates(p), 1);
  p.min_counter_updates = 10;
  p.prefill_counter_updates = 3;
  EXPECT_EQ(prefill_min_counter_updates(p), 3);
  p.min_counter_updates = 0;
  EXPECT_EQ(prefill_min_counter_updates(p), 0);
  EXPECT_EQ(ProtocolOptions::from_json({{"prefill_counter_updates", 3}}, "s.json")
                .prefill_counter_updates,
            3);
  EXPECT_THROW(ProtocolOptions::from_json({{"prefill_counter_updates", -1}}, "s.json"), Error);
}

// Back-to-back windows share a counter change when the next begins within reuse_change_s: a
// protocol key like the others, recorded with every configuration, 0 (the default) for off.
TEST(ProtocolOptions, ReuseChangeIsAKeyAndMustNotBeNegative) {
  ProtocolOptions p;
  EXPECT_DOUBLE_EQ(p.reuse_change_s, 0.0);
  EXPECT_DOUBLE_EQ(p.to_json().at("reuse_change_s").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(
      ProtocolOptions::from_json({{"reuse_change_s", 0.05}}, "sweep.json").reuse_change_s, 0.05);
  EXPECT_THROW(ProtocolOptions::from_json({{"reuse_change_s", -0.01}}, "sweep.json"), Error);
}

}  // namespace
}  // namespace eco::bench
