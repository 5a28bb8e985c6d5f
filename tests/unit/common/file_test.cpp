// Reading user-given files: only regular files, never more than a stated size, and no hang on a
// FIFO (open() of a FIFO without a writer blocks forever unless it is non-blocking).
#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace eco {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("eco_file_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::alarm(30);  // a regression that blocks in open() fails the test instead of hanging CI
  }
  void TearDown() override {
    ::alarm(0);
    fs::remove_all(dir_);
  }
  std::string error_of(const fs::path& p, size_t max_bytes = 1 << 20) {
    try {
      read_regular_file(p, max_bytes, "config.json");
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(FileTest, ReadsARegularFile) {
  std::ofstream(dir_ / "a.json", std::ios::binary) << "{\"x\": 1}";
  EXPECT_EQ(read_regular_file(dir_ / "a.json", 100, "config.json"), "{\"x\": 1}");
  EXPECT_TRUE(is_regular(dir_ / "a.json"));
  EXPECT_EQ(file_kind(dir_ / "a.json"), "a regular file");
}

TEST_F(FileTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0644), 0);
  EXPECT_THAT(
      error_of(dir_ / "fifo"),
      AllOf(HasSubstr("fifo"), HasSubstr("config.json must be a regular file"), HasSubstr("FIFO")));
  EXPECT_EQ(file_kind(dir_ / "fifo"), "a FIFO (named pipe)");
  EXPECT_FALSE(is_regular(dir_ / "fifo"));
}

TEST_F(FileTest, DevZeroThroughASymlinkIsRefused) {
  fs::create_symlink("/dev/zero", dir_ / "zero.json");
  EXPECT_THAT(error_of(dir_ / "zero.json"), HasSubstr("character device"));
}

TEST_F(FileTest, DirectoryIsNamedAsADirectory) {
  fs::create_directories(dir_ / "config.json");
  const std::string e = error_of(dir_ / "config.json");
  EXPECT_THAT(e, HasSubstr("a directory"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("JSON")));
}

TEST_F(FileTest, SizeLimitIsEnforcedAndStated) {
  std::ofstream(dir_ / "big", std::ios::binary) << std::string(5000, 'x');
  EXPECT_EQ(read_regular_file(dir_ / "big", 5000, "config.json").size(), 5000u);
  EXPECT_THAT(error_of(dir_ / "big", 4999), AllOf(HasSubstr("5000 bytes"), HasSubstr("4999")));
}

TEST_F(FileTest, MissingFileIsNamed) {
  EXPECT_THAT(error_of(dir_ / "nope"), AllOf(HasSubstr("nope"), HasSubstr("does not exist")));
  EXPECT_EQ(file_kind(dir_ / "nope"), "missing");
}

}  // namespace
}  // namespace eco
