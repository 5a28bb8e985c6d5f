#include "study/study_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/sweep_toml.h"
#include "common/error.h"

namespace {

using eco::study::canonical_format;
using eco::study::parse_study_json;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

json parse_toml(const std::string& text) {
  return eco::bench::toml_to_json(text, "test.toml");
}

const char* kStudy = R"(
name = "s"
[sweep]
gen_lens = 16
[sweep.protocol]
runs = 3
[[part]]
name = "formats"
models = ["synthetic:tiny", "synthetic:tiny-qwen2"]
formats = ["fp16", "int8", "int8?impl=reference-bnb", "int8-pure"]
batches = [1]
[[part]]
name = "threshold"
models = ["synthetic:tiny"]
formats = ["fp16", "int8?threshold=0", "int8?threshold=2", "int8?threshold=6"]
batches = 1
[[part]]
name = "batch"
models = ["synthetic:tiny"]
formats = ["fp16", "nf4"]
batches = [1, 8, 2]
)";

std::string error_of(const std::string& toml) {
  try {
    parse_study_json(parse_toml(toml), "test.toml");
  } catch (const eco::Error& e) {
    return e.what();
  }
  return "";
}

TEST(StudyFile, OneSpellingPerFormat) {
  const eco::bench::SweepSpec plain;
  EXPECT_EQ(canonical_format("int8?threshold=0", plain), "int8-pure");
  EXPECT_EQ(canonical_format("int8?threshold=6", plain), "int8");
  EXPECT_EQ(canonical_format("int8?impl=fused&threshold=2.5", plain), "int8?threshold=2.5");
  EXPECT_EQ(canonical_format("int8?impl=reference-bnb", plain), "int8?impl=reference-bnb");
  EXPECT_EQ(canonical_format("int8-pure?impl=reference-bnb", plain),
            "int8-pure?impl=reference-bnb");
  EXPECT_EQ(canonical_format("f16", plain), "fp16");
  eco::bench::SweepSpec shared;
  shared.int8_threshold = 4;  // the study-wide setting applies to int8 without its own
  EXPECT_EQ(canonical_format("int8", shared), "int8?threshold=4");
  EXPECT_EQ(canonical_format("int8?threshold=6", shared), "int8");
  EXPECT_THROW(canonical_format("nf4?threshold=2", plain), eco::Error);
  EXPECT_THROW(canonical_format("int8?threshold=-1", plain), eco::Error);
  EXPECT_THROW(canonical_format("int8?speed=fast", plain), eco::Error);
}

TEST(StudyFile, PartsShareConfigurationsAndEachModelIsOneSweep) {
  const auto s = parse_study_json(parse_toml(kStudy), "test.toml");
  ASSERT_EQ(s.parts.size(), 3u);
  EXPECT_THAT(s.parts[1].formats, ElementsAre("fp16", "int8-pure", "int8?threshold=2", "int8"));
  EXPECT_THAT(s.models(), ElementsAre("synthetic:tiny", "synthetic:tiny-qwen2"));
  const auto sweep = s.model_sweep("synthetic:tiny");
  EXPECT_THAT(sweep.models, ElementsAre("synthetic:tiny"));
  EXPECT_THAT(sweep.formats, ElementsAre("fp16", "int8", "int8?impl=reference-bnb", "int8-pure",
                                         "int8?threshold=2", "nf4"));
  EXPECT_THAT(sweep.batches, ElementsAre(1, 2, 8));
  EXPECT_THAT(sweep.gen_lens, ElementsAre(16));
  EXPECT_EQ(sweep.protocol.runs, 3);
  EXPECT_TRUE(sweep.resume);
  EXPECT_TRUE(s.includes("synthetic:tiny", "nf4", 8));
  EXPECT_FALSE(s.includes("synthetic:tiny", "int8", 8));  // int8 only at batch 1
  EXPECT_FALSE(s.includes("synthetic:tiny-qwen2", "nf4", 1));
  EXPECT_THAT(s.formats_of("synthetic:tiny-qwen2"),
              ElementsAre("fp16", "int8", "int8?impl=reference-bnb", "int8-pure"));
}

TEST(StudyFile, ErrorsNameTheFileAndKey) {
  EXPECT_THAT(error_of("[[part]]\nname='a'\nmodels=['synthetic:tiny']\nformats=['fp16']\n"
                       "batches=[1]\nspeed=2\n"),
              HasSubstr("unknown key 'speed'"));
  EXPECT_THAT(error_of("[sweep]\nmodels=['x']\n[[part]]\nname='a'\nmodels=['synthetic:tiny']\n"
                       "formats=['fp16']\nbatches=[1]\n"),
              HasSubstr("'models' belongs in each [[part]]"));
  EXPECT_THAT(error_of("[[part]]\nmodels=['synthetic:tiny']\nformats=['fp16']\nbatches=[1]\n"),
              HasSubstr("give the part a name"));
  EXPECT_THAT(error_of("name='x'\n"), HasSubstr("no [[part]]"));
  EXPECT_THAT(error_of("[[part]]\nname='a'\nmodels=['synthetic:tiny']\nformats=['fp17']\n"
                       "batches=[1]\n"),
              HasSubstr("unknown weight format 'fp17'"));
  EXPECT_THAT(error_of("[[part]]\nname='a'\nmodels=['synthetic:tiny']\nformats=['fp16']\n"
                       "batches=[0]\n"),
              HasSubstr("test.toml: part 1: 'batches'"));
  EXPECT_THAT(error_of("[sweep.protocol]\nruns='many'\n[[part]]\nname='a'\n"
                       "models=['synthetic:tiny']\nformats=['fp16']\nbatches=[1]\n"),
              HasSubstr("runs"));
}

TEST(StudyFile, SmokeKeepsTheStudysShapeOnTinyModels) {
  auto s = parse_study_json(parse_toml(kStudy), "test.toml");
  s.quality.models = {"synthetic:mistral-7b?outliers=16:20&seed=5"};
  eco::study::make_smoke(s);
  EXPECT_THAT(s.models(), ElementsAre("synthetic:tiny?seed=0", "synthetic:tiny-qwen2?seed=0",
                                      "synthetic:tiny-phi3?seed=0&outliers=16:20"));
  EXPECT_THAT(s.parts[2].batches, ElementsAre(1, 2));  // 8 dropped
  EXPECT_EQ(s.parts[1].models, s.parts[2].models);     // the same model in every part
  EXPECT_EQ(s.sweep.device, "cpu");
  EXPECT_EQ(s.quality.ctx, 32);
  EXPECT_NO_THROW(s.model_sweep(s.models()[0]).validate());
}

}  // namespace
