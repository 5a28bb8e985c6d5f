#include "model/resolve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"
#include "model_test_util.h"

namespace eco::model {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Sets an environment variable for the scope, restoring the previous value afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Resolve, CacheRootPrecedence) {
  ScopedEnv e("ECO_CACHE_DIR", "/tmp/eco-a");
  ScopedEnv x("XDG_CACHE_HOME", "/tmp/xdg");
  ScopedEnv h("HOME", "/home/someone");
  EXPECT_EQ(cache_root(), "/tmp/eco-a");
  {
    ScopedEnv e2("ECO_CACHE_DIR", nullptr);
    EXPECT_EQ(cache_root(), "/tmp/xdg/ecocompute");
    ScopedEnv x2("XDG_CACHE_HOME", nullptr);
    EXPECT_EQ(cache_root(), "/home/someone/.cache/ecocompute");
  }
}

TEST(Resolve, ParsesSpecs) {
  SynthOptions o = parse_synthetic_spec("synthetic:mistral-7b?seed=1&outliers=16:6");
  EXPECT_EQ(o.shape, "mistral-7b");
  EXPECT_EQ(o.seed, 1u);
  EXPECT_EQ(o.outlier_dims, 16);
  EXPECT_FLOAT_EQ(o.outlier_scale, 6.0f);
  EXPECT_EQ(o.dtype, DType::F16);
  EXPECT_EQ(synthetic_cache_name(o), "mistral-7b-s1-o16x6");
  o = parse_synthetic_spec("synthetic:tiny");
  EXPECT_EQ(synthetic_cache_name(o), "tiny-s0");
  o = parse_synthetic_spec("synthetic:tiny?dtype=bf16&seed=18446744073709551615");
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(synthetic_cache_name(o), "tiny-s18446744073709551615-bf16");
  EXPECT_EQ(synthetic_cache_name(parse_synthetic_spec("synthetic:tiny?outliers=2:2.5")),
            "tiny-s0-o2x2.5");
  EXPECT_TRUE(is_synthetic_spec("synthetic:tiny"));
  EXPECT_FALSE(is_synthetic_spec("/models/synthetic:tiny"));
}

TEST(Resolve, BadSpecs) {
  EXPECT_THAT([] { parse_synthetic_spec("synthetic:huge"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown synthetic shape 'huge'")));
  for (const char* bad : {"synthetic:tiny?seed=x", "synthetic:tiny?seed=-1",
                          "synthetic:tiny?seed=", "synthetic:tiny?seed=99999999999999999999999"})
    EXPECT_THAT([&] { parse_synthetic_spec(bad); },
                ::testing::ThrowsMessage<Error>(HasSubstr("seed must be")))
        << bad;
  EXPECT_THAT([] { parse_synthetic_spec("synthetic:tiny?colour=red"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown parameter 'colour'")));
  EXPECT_THROW(parse_synthetic_spec("synthetic:tiny?outliers=3"), Error);
  EXPECT_THROW(parse_synthetic_spec("synthetic:tiny?dtype=q4"), Error);
}

TEST(Resolve, Directories) {
  TempDir dir;
  EXPECT_EQ(resolve_model(dir.path().string()), dir.path());
  EXPECT_THAT([&] { resolve_model((dir / "absent").string()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("no such directory")));
}

TEST(Resolve, WritesSyntheticOnceAndReusesIt) {
  TempDir cache;
  ScopedEnv e("ECO_CACHE_DIR", cache.path().c_str());
  const auto dir = resolve_model("synthetic:tiny?seed=3&outliers=2:5");
  EXPECT_EQ(dir, cache / "synthetic" / "tiny-s3-o2x5");
  EXPECT_TRUE(
      synthetic_model_complete(dir, parse_synthetic_spec("synthetic:tiny?seed=3&outliers=2:5")));
  EXPECT_FALSE(
      synthetic_model_complete(dir, parse_synthetic_spec("synthetic:tiny?seed=4&outliers=2:5")));
  EXPECT_EQ(load_config(dir).hidden_size, 128);

  // Reused: a second resolve does not rewrite the weights.
  const auto weights = dir / "model.safetensors";
  const auto stamp = std::filesystem::last_write_time(weights);
  std::filesystem::last_write_time(weights, stamp - std::chrono::hours(1));
  const auto older = std::filesystem::last_write_time(weights);
  EXPECT_EQ(resolve_model("synthetic:tiny?seed=3&outliers=2:5"), dir);
  EXPECT_EQ(std::filesystem::last_write_time(weights), older);

  // An incomplete directory (no synthetic.json, as after an interrupted write) is rewritten.
  std::filesystem::remove(dir / "synthetic.json");
  EXPECT_EQ(resolve_model("synthetic:tiny?seed=3&outliers=2:5"), dir);
  EXPECT_NE(std::filesystem::last_write_time(weights), older);
  EXPECT_TRUE(std::filesystem::exists(dir / "synthetic.json"));
}

}  // namespace
}  // namespace eco::model
