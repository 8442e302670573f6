// hqq quantize --lm-head-bits / --embed-bits, end to end: the smaller file, what `hqq info`
// says, scoring and generating from it, the dequantized export, and the refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_support.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::hqq;
using hqq::test::Result;
using hqq::test::TempDir;

TEST(Cli, QuantizeStoresTheEmbeddingAndHeadMatrixAtEightBits) {
  TempDir tmp;
  const std::string demo = HQQ_TEST_DEMO_MODEL_DIR;
  const std::string q = (tmp / "q").string(), qh = (tmp / "qh").string();
  const std::string base = "--json -q quantize " + demo + " --preset 2bit-g64 -o ";
  Result a = hqq(base + q), b = hqq(base + qh + " --lm-head-bits 8");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  // The demo's tied 4096 x 256 fp32 matrix: 4.19 MB -> 1.06 MB; projections unchanged.
  EXPECT_GT(ja["output_bytes"].get<double>() - jb["output_bytes"].get<double>(), 3.0e6);
  EXPECT_EQ(ja["bits_per_weight"], jb["bits_per_weight"]);
  EXPECT_EQ(jb["layers"].size(), ja["layers"].size() + 1);
  Result info = hqq("info " + qh);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("embeddings + lm_head (tied) 8-bit"), std::string::npos) << info.out;

  // Scored against the full model: the 8-bit matrix costs next to nothing (measured KL 0.1513
  // -> 0.1513 on 150 kB of Moby-Dick), but it is a different model.
  hqq::test::write_file(tmp / "t.txt", hqq::test::read_file(hqq::test::shared_data() / "corpora" /
                                                            "moby-dick" / "moby-dick.txt")
                                           .substr(0, 8000));
  const std::string ref = (tmp / "ref.safetensors").string();
  const std::string ppl =
      "--json -q ppl --text " + (tmp / "t.txt").string() + " --ctx 128 --max-tokens 1000 ";
  ASSERT_EQ(hqq(ppl + demo + " --save-reference " + ref).code, 0);
  Result pa = hqq(ppl + q + " --reference " + ref), pb = hqq(ppl + qh + " --reference " + ref);
  ASSERT_EQ(pa.code, 0) << pa.err;
  ASSERT_EQ(pb.code, 0) << pb.err;
  const double ka = nlohmann::json::parse(pa.out)["kl_mean"].get<double>();
  const double kb = nlohmann::json::parse(pb.out)["kl_mean"].get<double>();
  EXPECT_NE(ka, kb);
  EXPECT_LT(std::abs(kb - ka), 0.05 * ka);

  Result g = hqq("--json -q generate " + qh + " --prompt 'The king said' -n 8 --temperature 0");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["tokens"].size(), 8u);

  // The dequantized export is a plain checkpoint again, embedding included.
  const std::string plain = (tmp / "plain").string();
  ASSERT_EQ(hqq("-q export-dequantized " + qh + " -o " + plain).code, 0);
  Result pi = hqq("--json info " + plain);
  ASSERT_EQ(pi.code, 0) << pi.err;
  EXPECT_NE(
      hqq::test::read_file(tmp / "plain" / "model.safetensors").find("model.embed_tokens.weight"),
      std::string::npos);
}

TEST(Cli, EmbeddingAndHeadBitsAreRefusedWhereTheyCannotApply) {
  TempDir tmp;
  const std::string demo = HQQ_TEST_DEMO_MODEL_DIR;
  const std::string q = "-q quantize " + demo + " --preset 4bit-g64 -o " + (tmp / "o").string();
  Result odd = hqq(q + " --embed-bits 3");
  EXPECT_EQ(odd.code, 2);
  EXPECT_NE(odd.err.find("--embed-bits"), std::string::npos) << odd.err;
  Result two = hqq(q + " --embed-bits 4 --lm-head-bits 8");  // one tied matrix, two formats
  EXPECT_EQ(two.code, 2);
  EXPECT_NE(two.err.find("tied"), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("config.json"), std::string::npos) << two.err;
  EXPECT_FALSE(fs::exists(tmp / "o"));
  // --dry-run shows the plan with the setting.
  Result dry = hqq("--json " + q + " --embed-bits 8 --dry-run");
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_EQ(nlohmann::json::parse(dry.out)["embed_bits"], 8);
}

// An untied model: the embedding and the head are two matrices, each at its own width.
TEST(Cli, UntiedEmbeddingAndHeadAreQuantizedApart) {
  TempDir tmp;
  const std::string src = (hqq::test::fixtures() / "models" / "llama_gqa_fp32").string();
  const std::string q = (tmp / "q").string(), qe = (tmp / "qe").string();
  const std::string base = "--json -q quantize " + src + " --preset 4bit-g64 -o ";
  Result a = hqq(base + q), b = hqq(base + qe + " --embed-bits 4 --lm-head-bits 4");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(jb["layers"].size(), ja["layers"].size() + 2);  // two matrices, not one
  // Two 256 x 64 fp32 matrices (65.5 kB each) at 4.5 bits: ~113 kB smaller.
  EXPECT_GT(ja["output_bytes"].get<double>() - jb["output_bytes"].get<double>(), 1.0e5);
  Result info = hqq("info " + qe);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("embeddings 4-bit"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("lm_head 4-bit"), std::string::npos) << info.out;
  const std::string st = hqq::test::read_file(tmp / "qe" / "model.safetensors");
  EXPECT_EQ(st.find("model.embed_tokens.weight"), std::string::npos);
  EXPECT_EQ(st.find("lm_head.weight"), std::string::npos);
  // Loaded back (the fixture has no tokenizer: the export is what runs the model's loader),
  // both matrices come out dense again.
  const std::string plain = (tmp / "plain").string();
  Result ex = hqq("-q export-dequantized " + qe + " -o " + plain);
  ASSERT_EQ(ex.code, 0) << ex.err;
  const std::string pst = hqq::test::read_file(tmp / "plain" / "model.safetensors");
  EXPECT_NE(pst.find("model.embed_tokens.weight"), std::string::npos);
  EXPECT_NE(pst.find("lm_head.weight"), std::string::npos);
}

}  // namespace
