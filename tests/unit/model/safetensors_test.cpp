#include "model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "model_test_util.h"

namespace eco::model {
namespace {

using ::testing::HasSubstr;
using testing::raw_image;
using testing::SafetensorsBuilder;

std::string error_of(std::vector<std::byte> bytes) {
  try {
    SafetensorsFile::from_bytes(std::move(bytes), "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

SafetensorsBuilder good() {
  SafetensorsBuilder b;
  b.add_ramp("a", DType::F32, {2, 3}, 0.0f, 1.0f);
  b.add_ramp("b", DType::F16, {4}, -1.0f, 0.5f);
  b.add_ramp("c", DType::BF16, {2, 2}, 10.0f, 1.0f);
  return b;
}

TEST(Safetensors, GoodImage) {
  auto b = good();
  b.header()["__metadata__"] = {{"format", "pt"}};
  auto f = SafetensorsFile::from_bytes(b.bytes(), "good.safetensors");
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const TensorView* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(a->file, "good.safetensors");
  EXPECT_FLOAT_EQ(a->at(5), 5.0f);
  const TensorView* bv = f->find("b");
  EXPECT_FLOAT_EQ(bv->at(0), -1.0f);
  EXPECT_FLOAT_EQ(bv->at(3), 0.5f);
  EXPECT_FLOAT_EQ(f->find("c")->at(3), 13.0f);
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(Safetensors, MappedFileMatchesBytes) {
  testing::TempDir dir;
  good().write(dir / "x.safetensors");
  auto f = SafetensorsFile::open(dir / "x.safetensors");
  EXPECT_EQ(f->path(), (dir / "x.safetensors").string());
  EXPECT_FLOAT_EQ(f->find("a")->at(4), 4.0f);
  EXPECT_FLOAT_EQ(f->find("c")->at(1), 11.0f);
}

TEST(Safetensors, EmptyTensorAndEmptyHeader) {
  SafetensorsBuilder b;
  b.add("scalar_empty", DType::F32, {0, 4}, {});
  auto f = SafetensorsFile::from_bytes(b.bytes(), "e");
  EXPECT_EQ(f->find("scalar_empty")->numel(), 0);
  EXPECT_EQ(SafetensorsFile::from_bytes(raw_image("{}", 0), "e")->tensors().size(), 0u);
}

TEST(Safetensors, TruncatedFile) {
  auto bytes = good().bytes();
  bytes.resize(bytes.size() - 4);  // data section cut short
  const std::string e = error_of(bytes);
  EXPECT_THAT(e, HasSubstr("bad.safetensors: tensor '"));
  EXPECT_THAT(e, HasSubstr("run past the data section"));
  EXPECT_THAT(error_of(std::vector<std::byte>(5)), HasSubstr("too short"));
  EXPECT_THAT(error_of({}), HasSubstr("too short"));
}

TEST(Safetensors, TruncatedFileOnDisk) {
  testing::TempDir dir;
  auto bytes = good().bytes();
  bytes.resize(30);
  testing::write_file(dir / "t.safetensors", bytes);
  EXPECT_THROW(SafetensorsFile::open(dir / "t.safetensors"), Error);
  testing::write_file(dir / "empty.safetensors", std::string());
  EXPECT_THROW(SafetensorsFile::open(dir / "empty.safetensors"), Error);
  EXPECT_THROW(SafetensorsFile::open(dir / "absent.safetensors"), Error);
}

TEST(Safetensors, HeaderLengthPastEof) {
  EXPECT_THAT(error_of(raw_image("{}", 0, 3)), HasSubstr("header length 3 runs past the end"));
  EXPECT_THAT(error_of(raw_image("{}", 10, 1000)), HasSubstr("runs past the end of the file"));
}

TEST(Safetensors, HugeHeaderLength) {
  EXPECT_THAT(error_of(raw_image("{}", 0, ~uint64_t(0))), HasSubstr("runs past the end"));
  // A header that fits the file but exceeds the 100 MB cap.
  std::string big(100'000'001, ' ');
  big[0] = '{';
  big[big.size() - 1] = '}';
  EXPECT_THAT(error_of(raw_image(big, 0)), HasSubstr("exceeds the 100 MB limit"));
}

TEST(Safetensors, NonUtf8AndInvalidJsonHeader) {
  EXPECT_THAT(error_of(raw_image("{\"a\xff\": 1}", 0)), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(error_of(raw_image("{\"\xc0\xaf\": 1}", 0)),
              HasSubstr("not valid UTF-8"));  // overlong
  EXPECT_THAT(error_of(raw_image("{\"\xed\xa0\x80\": 1}", 0)),
              HasSubstr("not valid UTF-8"));  // surrogate
  EXPECT_THAT(error_of(raw_image("{\"a\": ", 0)), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(raw_image("[1,2]", 0)), HasSubstr("must be a JSON object"));
  EXPECT_THAT(error_of(raw_image("", 0)), HasSubstr("not valid JSON"));
  // Valid multi-byte UTF-8 names are fine.
  SafetensorsBuilder b;
  b.add("gewicht_\xc3\xa4", DType::F32, {1}, {1.0f});
  EXPECT_NO_THROW(SafetensorsFile::from_bytes(b.bytes(), "u"));
}

TEST(Safetensors, OverlappingOffsets) {
  auto b = good();
  b.header()["b"]["data_offsets"] = {20, 28};  // inside "a" [0, 24)
  const std::string e = error_of(b.bytes());
  EXPECT_THAT(e, HasSubstr("overlap"));
  EXPECT_THAT(e, HasSubstr("'a'"));
  EXPECT_THAT(e, HasSubstr("'b'"));
}

TEST(Safetensors, OffsetsPastTheData) {
  auto b = good();
  b.header()["c"]["data_offsets"] = {1000, 1008};
  EXPECT_THAT(error_of(b.bytes()), HasSubstr("tensor 'c': data_offsets [1000, 1008] run past"));
  auto r = good();
  r.header()["c"]["data_offsets"] = {40, 32};
  EXPECT_THAT(error_of(r.bytes()), HasSubstr("end before they begin"));
}

TEST(Safetensors, ShapeDtypeSizeMismatch) {
  auto b = good();
  b.header()["a"]["shape"] = {2, 4};  // 8 floats = 32 bytes, offsets span 24
  EXPECT_THAT(error_of(b.bytes()), HasSubstr("tensor 'a': data_offsets span 24 bytes but shape"));
  auto d = good();
  d.header()["b"]["dtype"] = "F32";  // 4 x F32 = 16 bytes, offsets span 8
  EXPECT_THAT(error_of(d.bytes()), HasSubstr("tensor 'b'"));
  auto o = good();
  o.header()["a"]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
  EXPECT_THAT(error_of(o.bytes()), HasSubstr("too many elements"));
  auto n = good();
  n.header()["a"]["shape"] = {-2, 3};
  EXPECT_THAT(error_of(n.bytes()), HasSubstr("non-negative integers"));
}

TEST(Safetensors, UnknownDtypeAndMalformedEntries) {
  auto b = good();
  b.header()["a"]["dtype"] = "F8_E9";
  const std::string e = error_of(b.bytes());
  EXPECT_THAT(e, HasSubstr("tensor 'a'"));
  EXPECT_THAT(e, HasSubstr("unknown dtype 'F8_E9'"));
  auto m = good();
  m.header()["a"] = 5;
  EXPECT_THAT(error_of(m.bytes()), HasSubstr("entry must be an object"));
  auto s = good();
  s.header()["a"].erase("shape");
  EXPECT_THAT(error_of(s.bytes()), HasSubstr("'shape' is missing"));
  auto o = good();
  o.header()["a"]["data_offsets"] = {0};
  EXPECT_THAT(error_of(o.bytes()), HasSubstr("data_offsets"));
  auto meta = good();
  meta.header()["__metadata__"] = {{"format", 1}};
  EXPECT_THAT(error_of(meta.bytes()), HasSubstr("__metadata__ entry 'format' must be a string"));
}

TEST(Safetensors, ViewsSliceRows) {
  auto f = SafetensorsFile::from_bytes(good().bytes(), "g");
  const TensorView& a = *f->find("a");
  const TensorView r = a.slice_rows(1, 1, "[1]");
  EXPECT_EQ(r.shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r.name, "a[1]");
  EXPECT_FLOAT_EQ(r.at(0), 3.0f);
  EXPECT_THROW(a.slice_rows(1, 2, "x"), Error);
  EXPECT_THROW(r.at(3), Error);
}

// ---- TensorStore --------------------------------------------------------------------------

TEST(TensorStore, SingleFile) {
  testing::TempDir dir;
  good().write(dir / "model.safetensors");
  const TensorStore s = TensorStore::open_dir(dir.path());
  EXPECT_EQ(s.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FLOAT_EQ(s.get("a").at(2), 2.0f);
  EXPECT_THAT([&] { s.get("zz"); }, ::testing::ThrowsMessage<Error>(HasSubstr("tensor 'zz'")));
  EXPECT_EQ(s.files().size(), 1u);
}

void write_sharded(const testing::TempDir& dir) {
  SafetensorsBuilder s1, s2;
  s1.add_ramp("x", DType::F32, {4}, 0.0f, 1.0f);
  s2.add_ramp("y", DType::F16, {2}, 7.0f, 1.0f);
  s1.write(dir / "model-00001-of-00002.safetensors");
  s2.write(dir / "model-00002-of-00002.safetensors");
}

TEST(TensorStore, Sharded) {
  testing::TempDir dir;
  write_sharded(dir);
  testing::write_file(dir / "model.safetensors.index.json",
                      R"({"metadata": {"total_size": 20}, "weight_map": {
                           "x": "model-00001-of-00002.safetensors",
                           "y": "model-00002-of-00002.safetensors"}})");
  const TensorStore s = TensorStore::open_dir(dir.path());
  EXPECT_EQ(s.files().size(), 2u);
  EXPECT_FLOAT_EQ(s.get("x").at(3), 3.0f);
  EXPECT_FLOAT_EQ(s.get("y").at(1), 8.0f);
}

TEST(TensorStore, ShardedMissingShard) {
  testing::TempDir dir;
  write_sharded(dir);
  testing::write_file(dir / "model.safetensors.index.json",
                      R"({"weight_map": {"x": "model-00001-of-00002.safetensors",
                                         "y": "model-00003-of-00002.safetensors"}})");
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr("shard 'model-00003-of-00002.safetensors' (listed for tensor 'y') does "
                            "not exist")));
}

TEST(TensorStore, ShardedTensorNotInItsShard) {
  testing::TempDir dir;
  write_sharded(dir);
  testing::write_file(dir / "model.safetensors.index.json",
                      R"({"weight_map": {"x": "model-00001-of-00002.safetensors",
                                         "y": "model-00001-of-00002.safetensors"}})");
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr(
                  "tensor 'y' is mapped to shard 'model-00001-of-00002.safetensors', but that "
                  "file has no such tensor")));
}

TEST(TensorStore, BadIndexAndMissingFiles) {
  testing::TempDir dir;
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr("no model.safetensors or model.safetensors.index.json")));
  EXPECT_THROW(TensorStore::open_dir(dir / "nope"), Error);
  testing::write_file(dir / "model.safetensors.index.json", R"({"weight_map": {"x": "../x"}})");
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not a file name")));
  testing::write_file(dir / "model.safetensors.index.json", R"({"weights": {}})");
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("weight_map")));
  testing::write_file(dir / "model.safetensors.index.json", "{");
  EXPECT_THAT([&] { TensorStore::open_dir(dir.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not valid JSON")));
}

}  // namespace
}  // namespace eco::model
