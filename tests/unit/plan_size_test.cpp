// What the GUI shows before and after quantizing: the plan's size, and the per-layer report.
#include <gtest/gtest.h>

#include <cmath>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/model/model_info.h"
#include "core/quant/plan_size.h"
#include "core/quant/quant_preset.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path source() {
  return test::fixtures() / "models" / "llama_chat_tok1000";
}

TEST(PlanSize, ProjectionShapesMatchTheCheckpoint) {
  ModelInfo info = inspect_model(source());
  Checkpoint ckpt = Checkpoint::open(source());
  const auto shapes = projection_shapes(info.config);
  ASSERT_EQ(shapes.size(), static_cast<size_t>(7 * info.config.num_hidden_layers));
  for (const auto& m : shapes) {
    const auto& e = ckpt.entry(m.name + ".weight");
    EXPECT_EQ(e.shape, (std::vector<int64_t>{m.out_features, m.in_features})) << m.name;
  }
}

TEST(PlanSize, OverridesAndSkipsChangeTheSize) {
  ModelInfo info = inspect_model(source());
  QuantPlan p = plan_from_preset("4bit-g64");
  const PlanSize base = plan_size(info, p);
  p.overrides.push_back({"mlp", 2, 32, {}, false});
  const PlanSize mixed = plan_size(info, p);
  EXPECT_LT(mixed.total_bytes, base.total_bytes);
  EXPECT_LT(mixed.bits_per_weight, base.bits_per_weight);
  p.overrides.push_back({"layers.0", {}, {}, {}, true});
  const PlanSize kept = plan_size(info, p);
  EXPECT_LT(kept.quantized_parameters, mixed.quantized_parameters);
  EXPECT_EQ(kept.quantized_parameters + kept.kept_parameters, info.parameters);
  p.overrides.push_back({"q_proj", {}, 48, {}, false});  // 48 divides no row of this model
  EXPECT_GT(plan_size(info, p).invalid_layers, 0);
}

TEST(PlanSize, PredictsWhatQuantizationWrites) {
  ModelInfo info = inspect_model(source());
  for (const char* preset : {"4bit-g64", "2bit-g16", "3bit-g64"}) {
    test::TempDir tmp;
    QuantPlan plan = plan_from_preset(preset);
    plan.overrides.push_back({"layers.1.mlp", {}, {}, {}, true});  // kept as stored
    const QuantizeSummary s = test::quantize_to(source(), tmp / "q", plan);
    const PlanSize predicted = plan_size(info, plan);
    // The file also holds a few small per-layer meta tensors (shape, nbits...): within 1 %.
    EXPECT_NEAR(predicted.total_bytes, double(s.output_bytes), 0.01 * double(s.output_bytes))
        << preset;
    EXPECT_NEAR(predicted.bits_per_weight, s.bits_per_weight, 0.01) << preset;
  }
  // The model card's estimate per preset is the same prediction.
  for (const auto& e : info.estimates) {
    test::TempDir tmp;
    const QuantizeSummary s = test::quantize_to(source(), tmp / "q", e.preset);
    EXPECT_NEAR(double(e.bytes), double(s.output_bytes), 0.01 * double(s.output_bytes)) << e.preset;
  }
}

TEST(LayerReport, LevelsAndErrorHistogramDescribeTheLayer) {
  test::TempDir tmp;
  QuantizeSummary s = test::quantize_to(source(), tmp / "q", "2bit-g32");
  for (const auto& r : s.layers) {
    ASSERT_EQ(r.levels.size(), 4u) << r.name;  // 2 bits: four levels, increasing
    for (size_t i = 1; i < r.levels.size(); ++i) EXPECT_GT(r.levels[i], r.levels[i - 1]);
    int64_t n = 0;
    for (auto c : r.hist_error) n += c;
    EXPECT_EQ(n, r.parameters) << r.name;  // every weight's error is counted once
    EXPECT_GT(r.err_max, 0);
  }
  // The report on disk reads back as written.
  const auto back = read_layer_reports(tmp / "q");
  ASSERT_EQ(back.size(), s.layers.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].to_json(), s.layers[i].to_json());
  }
  test::write_file(tmp / "q" / "hqq_report.json", R"({"layers": [{"name": 3}]})");
  try {
    read_layer_reports(tmp / "q");
    FAIL() << "a malformed report was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("hqq_report.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hqq
