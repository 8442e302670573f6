// hqq calibrate and quantize --calibration, end to end: the statistics file, the calibrated
// quantization and its report, and the refusals (outputs over sources, files that are not
// calibration statistics, quantized models).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_support.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::hqq;
using hqq::test::Result;
using hqq::test::TempDir;

TEST(Cli, CalibrateThenQuantizeWithTheStatistics) {
  TempDir tmp;
  const fs::path demo = HQQ_TEST_DEMO_MODEL_DIR;
  const fs::path text = tmp / "kjv.txt";
  hqq::test::write_file(
      text, hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt")
                .substr(0, 30000));
  const fs::path stats = tmp / "stats.safetensors";
  const std::string cal = "--json -q calibrate " + demo.string() + " --text " + text.string() +
                          " --ctx 128 --max-tokens 2048 -o ";
  Result r = hqq(cal + stats.string());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["layers"], 28);
  EXPECT_EQ(j["tokens"], 2048);
  ASSERT_TRUE(fs::exists(stats));

  // Outputs over a source or an existing file are refused before the model loads.
  const auto demo_before = hqq::test::snapshot(demo);
  for (const fs::path& bad :
       {demo / "model.safetensors", demo / "stats.safetensors", text, stats}) {
    Result b = hqq(cal + bad.string());
    EXPECT_EQ(b.code, 2) << bad;
    EXPECT_NE(b.err.find(bad.filename().string()), std::string::npos) << b.err;
  }
  EXPECT_EQ(hqq::test::snapshot(demo), demo_before);
  EXPECT_EQ(hqq(cal + stats.string() + " --overwrite").code, 0);

  const std::string q = "-q quantize " + demo.string() + " --preset 2bit-g32 -o ";
  ASSERT_EQ(hqq(q + (tmp / "plain").string()).code, 0);
  Result c = hqq(q + (tmp / "cal").string() + " --calibration " + stats.string());
  ASSERT_EQ(c.code, 0) << c.err;
  auto report = nlohmann::json::parse(hqq::test::read_file(tmp / "cal" / "hqq_report.json"));
  EXPECT_EQ(report["calibrated"], true);
  EXPECT_EQ(report["calibration"]["text"], "kjv.txt");
  EXPECT_EQ(report["calibration"]["tokens"], 2048);
  for (const auto& l : report["layers"]) EXPECT_EQ(l["calibrated"], true) << l["name"];
  auto plain = nlohmann::json::parse(hqq::test::read_file(tmp / "plain" / "hqq_report.json"));
  EXPECT_EQ(plain["calibrated"], false);
  EXPECT_TRUE(plain["calibration"].is_null());
  Result info = hqq("info " + (tmp / "cal").string());
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("calibrated on kjv.txt (2048 tokens)"), std::string::npos) << info.out;
  EXPECT_EQ(hqq("info " + (tmp / "plain").string()).out.find("calibrated"), std::string::npos);
  // The weighting changed the solution, and the calibrated model loads and generates.
  EXPECT_NE(hqq::test::read_file(tmp / "cal" / "model.safetensors"),
            hqq::test::read_file(tmp / "plain" / "model.safetensors"));
  Result g = hqq("--json -q generate " + (tmp / "cal").string() + " -p 'In the beginning' -n 4");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["tokens"].size(), 4u);

  // Files that are not statistics (a model's weights; a bare safetensors file without the
  // format's metadata): exit 2 naming the file, nothing written. (Statistics of another model,
  // a missing layer or another width: Calibration.CollectsEachProjectionsInputsAndRestores...)
  Result wrong =
      hqq(q + (tmp / "w1").string() + " --calibration " + (demo / "model.safetensors").string());
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.err.find("not a calibration file"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(tmp / "w1"));
  const fs::path other = tmp / "other.safetensors";
  hqq::test::write_safetensors_f32(
      other, {{"model.layers.0.self_attn.q_proj.mean_sq", {{7}, std::vector<float>(7, 1.0f)}}});
  Result other_r = hqq(q + (tmp / "w2").string() + " --calibration " + other.string());
  EXPECT_EQ(other_r.code, 2);
  EXPECT_NE(other_r.err.find("other.safetensors"), std::string::npos) << other_r.err;
  EXPECT_FALSE(fs::exists(tmp / "w2"));
  Result qq = hqq("-q calibrate " + (tmp / "cal").string() + " --text " + text.string() + " -o " +
                  (tmp / "s3.safetensors").string());
  EXPECT_EQ(qq.code, 2);
  EXPECT_NE(qq.err.find("is quantized"), std::string::npos) << qq.err;
  EXPECT_FALSE(fs::exists(tmp / "s3.safetensors"));
}

}  // namespace
