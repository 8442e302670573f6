#include <gtest/gtest.h>

#include <cstring>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

using test::TempDir;

// A safetensors file built by hand from a header string and a data size.
std::string make_file(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + std::string(data_bytes, '\x01');
}

// Expects parsing `bytes` to fail with an InputError naming the file and containing `what`.
void expect_rejected(const std::string& bytes, const std::string& what) {
  TempDir dir;
  auto path = dir / "bad.safetensors";
  test::write_file(path, bytes);
  try {
    SafetensorsFile::open(path.string());
    FAIL() << "accepted a file that should fail with: " << what;
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
  // The header-only reader must agree.
  EXPECT_THROW(read_safetensors_header(path.string()), InputError);
}

TEST(Safetensors, RoundTripsEveryDtype) {
  TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 5})},
      {"f16", at::randn({4, 2}).to(at::kHalf)},
      {"bf16", at::randn({7}).to(at::kBFloat16)},
      {"i8", at::randint(-128, 127, {2, 3}, at::kChar)},
      {"u8", at::randint(0, 255, {9}, at::kByte)},
      {"i16", at::randint(-30000, 30000, {3, 1}, at::kShort)},
      {"i32", at::randint(-100000, 100000, {2, 2, 2}, at::kInt)},
      {"i64", at::randint(-100000, 100000, {5}, at::kLong)},
      {"bool", at::randint(0, 2, {6}, at::kLong).to(at::kBool)},
      {"scalar", at::full({}, 3.5f)},
      {"empty", at::empty({0, 4})},
  };
  auto path = (dir / "t.safetensors").string();
  save_safetensors(path, tensors, {{"format", "pt"}});
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->header().metadata.at("format"), "pt");
  EXPECT_EQ(f->header().data_offset() % 8, 0u);
  for (const auto& [name, t] : tensors) {
    at::Tensor back = f->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(back, t)) << name;
  }
}

TEST(Safetensors, ViewsAreZeroCopyAndNeverWriteTheFile) {
  TempDir dir;
  auto path = (dir / "t.safetensors").string();
  save_safetensors(path, {{"w", at::arange(16, at::kFloat)}});
  std::string before = test::read_file(path);
  auto f = SafetensorsFile::open(path);
  at::Tensor a = f->tensor("w"), b = f->tensor("w");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // both views of the same mapped bytes
  a.mul_(2);                              // private mapping: copy-on-write
  EXPECT_EQ(test::read_file(path), before);
  // A view keeps its mapping alive after the file object is gone.
  at::Tensor c = SafetensorsFile::open(path)->tensor("w");
  EXPECT_FLOAT_EQ(c[15].item<float>(), 15.0f);
}

TEST(Safetensors, WriterLeavesNothingBehindWhenAbandoned) {
  TempDir dir;
  auto path = dir / "out.safetensors";
  test::write_file(path, "previous content");
  {
    SafetensorsWriter w(path.string());
    w.declare("a", DType::F32, {4});
    w.declare("b", DType::F32, {2});
    w.write("a", at::ones({4}));
    // destroyed without finish(): as if the job was cancelled
  }
  EXPECT_EQ(test::read_file(path), "previous content");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, WriterChecksOrderAndShapes) {
  TempDir dir;
  SafetensorsWriter w((dir / "o.safetensors").string());
  w.declare("a", DType::F32, {2});
  w.declare("b", DType::BF16, {3});
  EXPECT_THROW(w.write("b", at::ones({3}, at::kBFloat16)), Error);
  EXPECT_THROW(w.write("a", at::ones({3})), Error);
  w.write("a", at::ones({2}));
  EXPECT_THROW(w.finish(), Error);
  w.write("b", at::ones({3}, at::kBFloat16));
  w.finish();
  EXPECT_EQ(read_safetensors_header((dir / "o.safetensors").string()).tensors.size(), 2u);
}

TEST(SafetensorsMalformed, TruncatedFile) {
  // Three bytes, less than the 8-byte length field (a plain literal would stop at the first NUL).
  expect_rejected(std::string("\x10\x00\x00", 3), "truncated");
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  std::string f = make_file("{}", 0);
  f[0] = 100;
  expect_rejected(f, "beyond the end of the file");
}

TEST(SafetensorsMalformed, HugeHeaderLength) {
  std::string f = make_file("{}", 0);
  f[7] = 0x7f;
  expect_rejected(f, "100 MB");
}

TEST(SafetensorsMalformed, BadJson) {
  expect_rejected(make_file("{\"a\": [1, 2", 0), "not valid JSON");
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  expect_rejected(make_file("[1, 2]", 0), "not an object");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                  "out of range");
}

TEST(SafetensorsMalformed, OffsetsOverlap) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            12),
                  "overlap");
}

TEST(SafetensorsMalformed, OffsetsWithGap) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "gap");
}

TEST(SafetensorsMalformed, TrailingBytes) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8),
                  "trailing");
}

TEST(SafetensorsMalformed, ByteLengthDoesNotMatchShape) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "does not match dtype");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_rejected(make_file(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1),
                  "dtype");
}

TEST(SafetensorsMalformed, NegativeShape) {
  expect_rejected(make_file(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1),
                  "non-negative");
}

TEST(SafetensorsMalformed, MetadataMustBeStrings) {
  expect_rejected(make_file(R"({"__metadata__":{"x":1}})", 0), "not a string");
}

TEST(SafetensorsMalformed, MissingFile) {
  EXPECT_THROW(SafetensorsFile::open("/nonexistent/x.safetensors"), InputError);
}

TEST(Checkpoint, OpensShardsThroughTheIndex) {
  auto ckpt = Checkpoint::open(test::fixtures() / "models" / "llama_gqa_fp32");
  EXPECT_EQ(ckpt.files().size(), 2u);
  EXPECT_TRUE(ckpt.has("model.embed_tokens.weight"));
  EXPECT_TRUE(ckpt.has("lm_head.weight"));
  EXPECT_EQ(ckpt.tensor("model.layers.1.mlp.down_proj.weight").sizes(),
            (std::vector<int64_t>{64, 160}));
}

TEST(Checkpoint, MissingShardIsNamed) {
  TempDir dir;
  auto src = test::fixtures() / "models" / "llama_gqa_fp32";
  for (const auto& e : std::filesystem::directory_iterator(src))
    std::filesystem::copy(e.path(), dir / e.path().filename().string());
  std::filesystem::remove(dir / "model-00002-of-00002.safetensors");
  try {
    Checkpoint::open(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model-00002-of-00002.safetensors"), std::string::npos)
        << e.what();
  }
}

TEST(Checkpoint, IndexListingAnAbsentTensorIsNamed) {
  TempDir dir;
  save_safetensors((dir / "a.safetensors").string(), {{"x", at::ones({2})}});
  test::write_file(dir / "model.safetensors.index.json",
                   R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}})");
  try {
    Checkpoint::open(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, FolderWithoutWeights) {
  TempDir dir;
  EXPECT_THROW(Checkpoint::open(dir.path()), InputError);
  test::write_file(dir / "pytorch_model.bin", "x");
  try {
    Checkpoint::open(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace hqq
