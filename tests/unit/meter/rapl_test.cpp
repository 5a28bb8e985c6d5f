// RAPL over a fake powercap tree in a temporary directory.
#include "meter/rapl.h"

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace eco::meter {
namespace {

namespace fs = std::filesystem;

class FakePowercap : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("eco_rapl_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void zone(const std::string& id, const std::string& name, const std::string& energy,
            const std::string& range = "1000000") {
    const fs::path z = root_ / ("intel-rapl:" + id);
    fs::create_directories(z);
    write(z / "name", name);
    if (!energy.empty()) write(z / "energy_uj", energy);
    write(z / "max_energy_range_uj", range);
  }
  void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text << "\n"; }
  fs::path root_;
};

TEST_F(FakePowercap, FindsPackagesAndDramSkipsCore) {
  zone("0", "package-0", "5000");
  zone("0:0", "core", "100");
  zone("0:1", "dram", "700");
  zone("1", "package-1", "9000");
  RaplSensor rapl(root_.string());
  ASSERT_EQ(rapl.domains().size(), 3u);
  EXPECT_EQ(rapl.domains()[0].name, "package-0");
  EXPECT_EQ(rapl.domains()[1].name, "dram-0");
  EXPECT_EQ(rapl.domains()[2].name, "package-1");
  EXPECT_TRUE(rapl.unavailable_reason().empty());
  const auto r = rapl.read_uj();
  EXPECT_DOUBLE_EQ(*r[0], 5000);
  EXPECT_DOUBLE_EQ(*r[1], 700);
}

TEST_F(FakePowercap, AccumulatesAcrossAWrap) {
  zone("0", "package-0", "999000", "1000000");
  RaplSensor rapl(root_.string());
  RaplAccumulator acc(rapl);
  acc.update(rapl.read_uj());
  EXPECT_DOUBLE_EQ(acc.joules()[0], 0.0);
  write(root_ / "intel-rapl:0" / "energy_uj", "3000");  // wrapped: 1000 + 3000 uJ
  acc.update(rapl.read_uj());
  EXPECT_NEAR(acc.joules()[0], 0.004, 1e-12);
  write(root_ / "intel-rapl:0" / "energy_uj", "503000");
  acc.update(rapl.read_uj());
  EXPECT_NEAR(acc.joules()[0], 0.504, 1e-12);
}

TEST_F(FakePowercap, UnreadableDomainIsUnavailableWithReasonNeverZero) {
  zone("0", "package-0", "");  // no energy_uj file
  RaplSensor rapl(root_.string());
  ASSERT_EQ(rapl.domains().size(), 1u);
  EXPECT_FALSE(rapl.domains()[0].available);
  EXPECT_NE(rapl.domains()[0].reason.find("energy_uj"), std::string::npos);
  EXPECT_FALSE(rapl.unavailable_reason().empty());
  EXPECT_FALSE(rapl.read_uj()[0].has_value());
  RaplAccumulator acc(rapl);
  acc.update(rapl.read_uj());
  EXPECT_TRUE(std::isnan(acc.joules()[0]));
}

TEST_F(FakePowercap, MissingTreeIsUnavailable) {
  RaplSensor rapl((root_ / "absent").string());
  EXPECT_TRUE(rapl.domains().empty());
  EXPECT_NE(rapl.unavailable_reason().find("no RAPL powercap tree"), std::string::npos);
  RaplSensor empty(root_.string());
  EXPECT_NE(empty.unavailable_reason().find("no RAPL package"), std::string::npos);
}

}  // namespace
}  // namespace eco::meter
