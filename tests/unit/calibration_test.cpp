// Calibration (calibration.h): the importance-weighted solver, the statistics a model run
// collects, and the statistics file.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/io/safetensors_file.h"
#include "core/load/model_loader.h"
#include "core/quant/calibration.h"
#include "core/quant/hqq_quantizer.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

// Σ_o Σ_i h_i (W - Ŵ)²_oi over rows [r0, r1) and inputs [c0, c1).
double weighted_error(const at::Tensor& w, const QuantizedTensor& q, const at::Tensor& h,
                      int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  at::Tensor d = (w - dequantize(q)).slice(0, r0, r1).slice(1, c0, c1).to(at::kDouble);
  return (d.pow(2) * h.slice(0, c0, c1).to(at::kDouble).unsqueeze(0)).sum().item<double>();
}

TEST(Calibration, TheWeightedSolverLowersTheErrorWhereTheWeightsAre) {
  at::manual_seed(11);
  QuantConfig c;
  c.nbits = 2;
  c.group_size = 64;
  // 800 × 5632 is solved in two slices (4 M weights each) and the second starts mid-row (group
  // 65536 of 88 per row): the importance must follow the groups' inputs across slices.
  const at::Tensor w = at::randn({800, 5632}) * 0.02;
  // Weights only matter relative to the others of their group: a contrast inside every group.
  const at::Tensor h = at::exp(at::randn({5632}) * 1.5);
  const QuantizedTensor plain = quantize(w, c, "w");
  const QuantizedTensor weighted = quantize(w, c, "w", {}, h);
  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 700}, {746, 800}}) {
    SCOPED_TRACE(r0);
    EXPECT_LT(weighted_error(w, weighted, h, r0, r1, 0, 5632),
              0.9 * weighted_error(w, plain, h, r0, r1, 0, 5632));
  }
  // The plain error is what the plain solve minimises: weighting trades some of it away.
  EXPECT_GE(relative_error(w, dequantize(weighted)), relative_error(w, dequantize(plain)));
  // Uniform weights solve the plain problem (the same codes, up to float summation order).
  const QuantizedTensor uniform = quantize(w, c, "w", {}, at::ones({5632}) * 3.0);
  EXPECT_NEAR(relative_error(w, dequantize(uniform)), relative_error(w, dequantize(plain)), 1e-4);

  for (const at::Tensor& bad : {at::ones({100}), -at::ones({5632}), at::full({5632}, NAN)})
    EXPECT_THROW(quantize(w, c, "w", {}, bad), InputError);
  QuantConfig ref = c;
  ref.optimizer = HqqOptimizer::Reference;
  EXPECT_THROW(quantize(w, ref, "w", {}, h), InputError);
}

TEST(Calibration, CollectsEachProjectionsInputsAndRestoresTheModel) {
  LoadedModel m = load_model(HQQ_TEST_DEMO_MODEL_DIR, {.dtype = "float32"});
  const std::string text =
      test::read_file(test::shared_data() / "corpora" / "kjv" / "kjv.txt").substr(0, 20000);
  const std::vector<int64_t> tokens = m.require_tokenizer().encode(text, false);
  const at::Tensor probe = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + 16));
  at::NoGradGuard no_grad;
  const at::Tensor before = m.model.forward(probe.unsqueeze(0));
  int reports = 0;
  JobContext job;
  job.progress = [&](const ProgressEvent& p) { reports += p.stage == "calibrate"; };
  CalibrationStats s = collect_calibration(m.model, tokens, {.ctx = 64, .max_tokens = 320}, job);
  EXPECT_EQ(s.tokens, 320);  // five windows
  EXPECT_EQ(reports, 5);
  EXPECT_EQ(s.mean_sq.size(), 28u);  // 4 layers × 7 projections, no lm_head
  for (int l = 0; l < 4; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const at::Tensor& q = s.mean_sq.at(p + "self_attn.q_proj");
    EXPECT_EQ(q.numel(), 256);
    EXPECT_TRUE(at::equal(q, s.mean_sq.at(p + "self_attn.v_proj")));  // one input, one statistic
    EXPECT_TRUE(at::equal(s.mean_sq.at(p + "mlp.gate_proj"), s.mean_sq.at(p + "mlp.up_proj")));
    EXPECT_EQ(s.mean_sq.at(p + "mlp.down_proj").numel(), 768);
    EXPECT_GT(q.min().item<float>(), 0.0f);
    EXPECT_FALSE(at::equal(q, s.mean_sq.at(p + "self_attn.o_proj")));
  }
  // Layer 0's q_proj sees input_layernorm(embedding): E[x²] of it computed directly.
  const at::Tensor win = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + 320));
  auto weights =
      SafetensorsFile::open((fs::path(HQQ_TEST_DEMO_MODEL_DIR) / "model.safetensors").string());
  const at::Tensor emb = weights->tensor("model.embed_tokens.weight").to(at::kFloat);
  const at::Tensor x = emb.index_select(0, win);
  const at::Tensor n = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5) *
                       weights->tensor("model.layers.0.input_layernorm.weight").to(at::kFloat);
  EXPECT_TRUE(
      at::allclose(s.mean_sq.at("model.layers.0.self_attn.q_proj"), n.pow(2).mean(0), 1e-4, 1e-6));
  EXPECT_TRUE(at::equal(m.model.forward(probe.unsqueeze(0)), before));  // layers put back

  test::TempDir tmp;
  s.text = "kjv.txt";
  save_calibration(s, {tmp / "stats.safetensors"});
  CalibrationStats back = load_calibration(tmp / "stats.safetensors");
  EXPECT_EQ(back.tokens, 320);
  EXPECT_EQ(back.ctx, 64);
  EXPECT_EQ(back.text, "kjv.txt");
  ASSERT_EQ(back.mean_sq.size(), 28u);
  for (const auto& [k, v] : s.mean_sq) EXPECT_TRUE(at::equal(back.mean_sq.at(k), v)) << k;
  at::Tensor imp = calibration_importance(back, "model.layers.1.mlp.down_proj", 768, "f");
  EXPECT_NEAR(imp.mean().item<double>(), 1.0, 1e-2);
  EXPECT_GE(imp.min().item<float>(), 1e-3f);

  auto refused = [](auto&& f, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "accepted: " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused([&] { load_calibration(fs::path(HQQ_TEST_DEMO_MODEL_DIR) / "model.safetensors"); },
          "not a calibration file");
  refused([&] { load_calibration(tmp.path()); }, "is a folder");
  refused([&] { calibration_importance(back, "model.layers.9.mlp.up_proj", 256, "stats.x"); },
          "stats.x: has no statistics for 'model.layers.9.mlp.up_proj'");
  refused([&] { calibration_importance(back, "model.layers.0.mlp.up_proj", 512, "stats.x"); },
          "has 256 statistics, the layer 512 inputs");
  refused([&] { collect_calibration(m.model, tokens, {.ctx = 64, .max_tokens = 10}); },
          "--max-tokens");
}

}  // namespace
}  // namespace hqq
