// Token-id files and the built-in default text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "quality/text.h"

namespace eco::quality {
namespace {

TEST(QualityText, TokenIdsFromPlainListsAndJson) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(parse_token_ids("1 2\n3,4 ,5\n", "t"), (V{1, 2, 3, 4, 5}));
  EXPECT_EQ(parse_token_ids(" [7, 8, 9]", "t"), (V{7, 8, 9}));
  EXPECT_EQ(parse_token_ids(R"({"token_count": 2, "token_ids": [0, 4095]})", "t"), (V{0, 4095}));
}

TEST(QualityText, BadTokenIdsAreNamed) {
  for (const char* bad :
       {"", "  \n", "1 2 x", "1 -2", "[1, 2.5]", "[1,", "{\"ids\": [1]}", "12a", "[]"}) {
    SCOPED_TRACE(bad);
    try {
      parse_token_ids(bad, "--tokens t.txt");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--tokens t.txt"), std::string::npos) << e.what();
    }
  }
}

TEST(QualityText, TheDefaultTextIsTheBundledHeldOutFile) {
  std::ifstream in(std::string(ECO_SOURCE_DIR) + "/" + std::string(kDefaultTextName),
                   std::ios::binary);
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(default_text(), ss.str());
  EXPECT_GT(default_text().size(), 20000u);
  EXPECT_EQ(default_text().substr(0, 6), "Ruth 1");
}

TEST(QualityText, ReadFileErrorsNameTheOption) {
  const auto dir = std::filesystem::temp_directory_path();
  EXPECT_THROW(read_file(dir / "eco-no-such-file.txt", "--text"), Error);
  EXPECT_THROW(read_file(dir, "--text"), Error);
  const auto empty = dir / "eco-quality-empty.txt";
  std::ofstream(empty).close();
  try {
    read_file(empty, "--text");
    ADD_FAILURE() << "empty file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos);
  }
  std::filesystem::remove(empty);
}

}  // namespace
}  // namespace eco::quality
