#include "meter/visible_devices.h"

#include <gtest/gtest.h>

namespace eco::meter {
namespace {

const std::vector<std::string> kUuids = {"GPU-aaaa1111-0000", "GPU-bbbb2222-0000",
                                         "GPU-aaaa3333-0000"};

TEST(VisibleDevices, UnsetMeansAllInNvmlOrder) {
  EXPECT_EQ(map_visible_devices(std::nullopt, kUuids).nvml_indices, (std::vector<int>{0, 1, 2}));
}

TEST(VisibleDevices, IndicesKeepCudaOrder) {
  const auto v = map_visible_devices("2, 0", kUuids);
  EXPECT_EQ(v.nvml_indices, (std::vector<int>{2, 0}));
  EXPECT_TRUE(v.note.empty());
}

TEST(VisibleDevices, UuidPrefixes) {
  EXPECT_EQ(map_visible_devices("GPU-bbbb,GPU-aaaa3", kUuids).nvml_indices,
            (std::vector<int>{1, 2}));
}

TEST(VisibleDevices, EmptyHidesEverything) {
  EXPECT_TRUE(map_visible_devices("", kUuids).nvml_indices.empty());
}

TEST(VisibleDevices, StopsAtTheFirstBadEntryAndSaysWhy) {
  auto v = map_visible_devices("1,7,0", kUuids);
  EXPECT_EQ(v.nvml_indices, (std::vector<int>{1}));
  EXPECT_NE(v.note.find("index 7 is out of range"), std::string::npos);

  v = map_visible_devices("GPU-aaaa,1", kUuids);  // ambiguous prefix
  EXPECT_TRUE(v.nvml_indices.empty());
  EXPECT_NE(v.note.find("more than one"), std::string::npos);

  v = map_visible_devices("0,0", kUuids);
  EXPECT_EQ(v.nvml_indices, (std::vector<int>{0}));
  EXPECT_NE(v.note.find("already listed"), std::string::npos);

  v = map_visible_devices("0,abc", kUuids);
  EXPECT_NE(v.note.find("'abc'"), std::string::npos);

  v = map_visible_devices("MIG-1234", kUuids);
  EXPECT_NE(v.note.find("MIG"), std::string::npos);
}

}  // namespace
}  // namespace eco::meter
