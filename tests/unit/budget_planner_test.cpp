#include <gtest/gtest.h>

#include <random>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/model/fused_projections.h"
#include "core/model/model_config.h"
#include "core/quant/budget_planner.h"
#include "core/quant/kl_probe.h"
#include "core/quant/plan_size.h"
#include "core/quant/quant_preset.h"
#include "core/quant/quantize_model.h"
#include "core/quant/twolevel_format.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

TEST(BudgetPlanner, NeverWorseThanTheBestUniformChoiceThatFits) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  for (int trial = 0; trial < 50; ++trial) {
    // 6 layers, 4 candidates with bytes increasing and error decreasing at layer-specific rates.
    std::vector<LayerChoice> layers(6);
    for (auto& l : layers) {
      double size = u(rng) * 100, sens = u(rng);
      for (double bits : {1.5, 2.5, 3.0, 4.5}) {
        l.bytes.push_back(size * bits);
        l.errors.push_back(sens * size * std::pow(0.25, bits) * u(rng));
      }
    }
    for (size_t uniform = 0; uniform < 4; ++uniform) {
      double budget = 0, uniform_error = 0;
      for (auto& l : layers) budget += l.bytes[uniform], uniform_error += l.errors[uniform];
      choose_candidates(layers, budget);
      double used = 0, error = 0;
      for (auto& l : layers) used += l.bytes[l.chosen], error += l.errors[l.chosen];
      EXPECT_LE(used, budget * (1 + 1e-12));
      EXPECT_LE(error, uniform_error * (1 + 1e-12)) << "trial " << trial << " uniform " << uniform;
    }
  }
}

TEST(BudgetPlanner, MatchesBruteForceOnSmallInstances) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<LayerChoice> layers(5);
    for (auto& l : layers)
      for (int c = 0; c < 4; ++c) l.bytes.push_back(u(rng) * 100), l.errors.push_back(u(rng));
    const double budget = 250;
    // The best combination that fits with a margin covering the planner's size rounding.
    double optimum = 1e300;
    for (int code = 0; code < 1024; ++code) {
      double b = 0, e = 0;
      for (int i = 0, k = code; i < 5; ++i, k /= 4)
        b += layers[i].bytes[k % 4], e += layers[i].errors[k % 4];
      if (b <= budget * (1 - 5.0 / 4096)) optimum = std::min(optimum, e);
    }
    if (optimum == 1e300) continue;
    choose_candidates(layers, budget);
    double used = 0, error = 0;
    for (auto& l : layers) used += l.bytes[l.chosen], error += l.errors[l.chosen];
    EXPECT_LE(used, budget * (1 + 1e-12));
    EXPECT_LE(error, optimum + 1e-12) << "trial " << trial;
  }
}

TEST(BudgetPlanner, AmpleBudgetPicksTheMostAccurateAndTooSmallIsAnError) {
  std::vector<LayerChoice> layers(2);
  layers[0] = {"a", 10, {4.0, 1.0}, {10, 20}, 0};
  layers[1] = {"b", 10, {9.0, 2.0}, {10, 20}, 0};
  choose_candidates(layers, 1000);
  EXPECT_EQ(layers[0].chosen, 1u);
  EXPECT_EQ(layers[1].chosen, 1u);
  // Room for one upgrade: it goes where it removes more error (layer b).
  choose_candidates(layers, 30);
  EXPECT_EQ(layers[0].chosen, 0u);
  EXPECT_EQ(layers[1].chosen, 1u);
  EXPECT_THROW(choose_candidates(layers, 15), InputError);
  // A choice with fewer candidates than the others (a fixed output matrix) keeps a valid index.
  layers.push_back({"lm_head", 10, {0.5}, {5}, 0});
  choose_candidates(layers, 40);
  EXPECT_EQ(layers[2].chosen, 0u);
  EXPECT_EQ(layers[1].chosen, 1u);
}

TEST(BudgetPlanner, PlansARealModelWithinItsBitBudget) {
  auto dir = test::fixtures() / "models" / "llama_chat_tok1000";
  QuantConfig base;
  BudgetOptions o;
  o.bits_per_weight = 3.0;
  o.sample = 0;
  BudgetPlan p = plan_for_budget(dir, base, o);
  EXPECT_EQ(p.layers.size(), 14u);
  EXPECT_LE(p.bits_per_weight(), 3.0 + 1e-9);
  // At least as good as the uniform preset of the same cost (2-bit g32 costs 3.0 bits/weight).
  size_t uniform = 0;
  for (size_t c = 0; c < p.candidates.size(); ++c)
    if (p.candidates[c].name == "2bit-g32") uniform = c;
  double uniform_error = 0;
  for (const auto& l : p.layers) uniform_error += l.errors[uniform];
  EXPECT_LE(p.total_error, uniform_error);
  EXPECT_EQ(p.plan.overrides.size(), 14u);
  EXPECT_TRUE(p.plan.config_for("model.layers.1.mlp.up_proj").has_value());
}

TEST(BudgetPlanner, PlannedBytesAreWhatPlanSizePredictsWith3BitPadding) {
  // The planner and plan_size share one byte count (hqq_layer_bytes): a plan that picks 3-bit
  // layers, whose codes are padded to ten per int32, must not exceed the budget plan_size shows.
  auto dir = test::fixtures() / "models" / "llama_chat_tok1000";
  BudgetOptions o;
  o.bits_per_weight = 3.6;
  o.sample = 0;
  o.measure = PlanMeasure::Weights;
  BudgetPlan p = plan_for_budget(dir, QuantConfig{}, o);
  int three_bit = 0;
  for (const auto& l : p.layers) three_bit += p.candidates[l.chosen].bits == 3;
  ASSERT_GT(three_bit, 0);
  const PlanSize s = plan_size(inspect_model(dir), p.plan);
  EXPECT_NEAR(s.bits_per_weight, p.bits_per_weight(), 1e-9);
  EXPECT_LE(s.bits_per_weight, 3.6 + 1e-9);
}

namespace fs = std::filesystem;

fs::path demo_dir() {
  return HQQ_TEST_DEMO_MODEL_DIR;
}

// Quantizes `dir` with the plan into `out`.
QuantizeSummary written(const fs::path& dir, const QuantPlan& plan, const fs::path& out) {
  QuantizeOptions q;
  q.source = dir;
  q.output = out;
  q.plan = plan;
  return quantize_checkpoint(q);
}

// The bits per weight the written layers hold.
double written_bits(const fs::path& dir, const QuantPlan& plan, const fs::path& out) {
  return written(dir, plan, out).bits_per_weight;
}

TEST(BudgetPlanner, PlansStayWithinTheirBitBudgetMetaIncluded) {
  // --budget-bits 2.625 once gave a plan that wrote 2.627 bits per weight: the bytes a layer
  // holds (3-bit padding, fp16 meta, two-level meta) must be what the planner counts.
  test::TempDir tmp;
  const std::string formats[] = {"plain", "2bit-g64,3bit-g64,2bit-tl-g16,2bit-tl-g8,3bit-tl-g32"};
  int run = 0;
  for (const std::string& list : formats) {
    for (double bits : {2.625, 3.0}) {
      BudgetOptions o;
      o.bits_per_weight = bits;
      o.measure = PlanMeasure::Weights;  // the bytes, not the measure, are under test here
      o.candidates = plan_candidates_from_list(list);
      const BudgetPlan p = plan_for_budget(demo_dir(), QuantConfig{}, o);
      EXPECT_LE(p.bits_per_weight(), bits) << list;
      EXPECT_GT(p.bits_per_weight(), bits - 0.25) << list;  // and it uses the budget
      const PlanSize s = plan_size(inspect_model(demo_dir()), p.plan);
      EXPECT_DOUBLE_EQ(s.bits_per_weight, p.bits_per_weight()) << list;
      const double w = written_bits(demo_dir(), p.plan, tmp / ("q" + std::to_string(run++)));
      EXPECT_LE(w, bits) << list << " at " << bits;
      EXPECT_DOUBLE_EQ(w, p.bits_per_weight()) << list;
    }
  }
}

TEST(BudgetPlanner, KlProbeIsZeroForTheOriginalWeightAndGrowsWithTheError) {
  const ModelConfig config = load_model_config(demo_dir());
  KlProbe probe(demo_dir(), config, {.sequences = 2, .length = 48, .seed = 3});
  EXPECT_EQ(probe.tokens().sizes(), (std::vector<int64_t>{2, 48}));
  KlProbe again(demo_dir(), config, {.sequences = 2, .length = 48, .seed = 3});
  EXPECT_TRUE(at::equal(probe.tokens(), again.tokens()));  // seeded: reproducible
  const std::string m = "model.layers.1.mlp.down_proj";
  const at::Tensor w = split_fused_projections(Checkpoint::open(demo_dir()), config)
                           .tensor(m + ".weight")
                           .to(at::kFloat);
  EXPECT_NEAR(probe.kl_with(m, w), 0.0, 1e-9);
  const at::Tensor noise = at::randn(w.sizes(), at::TensorOptions().dtype(at::kFloat));
  const double small = probe.kl_with(m, w + 0.02 * w.std() * noise);
  const double large = probe.kl_with(m, w + 0.2 * w.std() * noise);
  EXPECT_GT(small, 0);
  // Second order in the perturbation: 10x the noise, about 100x the KL (well above 10x).
  EXPECT_GT(large, 30 * small);
  EXPECT_THROW(probe.kl_with("model.layers.9.mlp.down_proj", w), Error);
}

TEST(BudgetPlanner, KlMeasureWeighsLayersByWhatTheModelLoses) {
  BudgetOptions o;
  o.bits_per_weight = 3.0;
  o.candidates = plan_candidates_from_list("2bit-g64,2bit-tl-g16,4bit-g64");
  o.probe = {.sequences = 1, .length = 96, .seed = 1};
  const BudgetPlan p = plan_for_budget(demo_dir(), QuantConfig{}, o);
  ASSERT_EQ(p.layers.size(), 28u);
  EXPECT_LE(p.bits_per_weight(), 3.0);
  EXPECT_GE(p.measurements, 28);  // every layer measured, most more than once
  double kl_min = 1e300, kl_max = 0;
  for (const auto& l : p.layers) {
    // Measured KL falls as the format grows (2-bit g64 → 4-bit g64), layer by layer.
    EXPECT_LT(l.errors[2], l.errors[0]) << l.module;
    kl_min = std::min(kl_min, l.errors[0]), kl_max = std::max(kl_max, l.errors[0]);
  }
  // Layers differ widely in what the same format costs the model: the reason for the measure.
  EXPECT_GT(kl_max, 5 * kl_min);
  // The predicted KL of the plan is below that of the uniform choice of the same size (2-bit g32
  // would be 3.0 bpw; 2bit-tl-g16 at 2.625 is the largest uniform choice that fits here).
  double uniform = 0;
  for (const auto& l : p.layers) uniform += l.errors[1];
  EXPECT_TRUE(std::isfinite(uniform));
  EXPECT_LT(p.total_error, uniform);
  // Scaled mode: one measurement per layer, the other candidates scaled by weight error.
  o.kl_direct_parameters = 0;
  const BudgetPlan scaled = plan_for_budget(demo_dir(), QuantConfig{}, o);
  EXPECT_EQ(scaled.measurements, 28);
  EXPECT_LE(scaled.bits_per_weight(), 3.0);
}

// A whole-model budget chooses the output matrix too. The demo model's tied embedding is 4.2 MB
// of fp32, more than a 2.3 MB budget: kept, nothing fits (the planner before this refused it);
// quantized with the tied head it fits, and the written model is within the budget.
TEST(BudgetPlanner, WholeModelBudgetChoosesTheOutputMatrix) {
  test::TempDir tmp;
  BudgetOptions o;
  o.total_bytes = 2.3e6;
  o.candidates = plan_candidates_from_list("2bit-tl-g64,2bit-tl-g16,3bit-tl-g32");
  o.probe = {.sequences = 1, .length = 32, .seed = 1};
  o.cache = tmp / "cache.json";  // the second plan below reuses the layers' measurements
  const BudgetPlan p = plan_for_budget(demo_dir(), QuantConfig{}, o);
  ASSERT_TRUE(p.lm_head.has_value());
  EXPECT_EQ(p.lm_head_options, (std::vector<int>{0, 8, 4}));
  EXPECT_EQ(p.lm_head->errors[0], 0);  // kept: no loss
  EXPECT_GT(p.lm_head->errors[1], 0);  // 8-bit: measured, small
  EXPECT_GT(p.lm_head->errors[2], p.lm_head->errors[1]);
  EXPECT_NE(p.plan.lm_head_bits, 0);
  EXPECT_LE(p.quantized_bytes + p.kept_bytes, 2.3e6);
  const PlanSize s = plan_size(inspect_model(demo_dir()), p.plan);
  EXPECT_TRUE(s.lm_head_quantized && s.embed_quantized);  // one tied matrix
  EXPECT_NEAR(s.total_bytes, p.quantized_bytes + p.kept_bytes, 0.01 * s.total_bytes);
  const QuantizeSummary w = written(demo_dir(), p.plan, tmp / "q");
  EXPECT_LE(static_cast<double>(w.output_bytes), 2.3e6 * 1.01);  // + header and norms
  // The head fixed as stored: the same budget cannot be met.
  o.lm_head_bits = 0;
  EXPECT_THROW(plan_for_budget(demo_dir(), QuantConfig{}, o), InputError);
  // A bit budget counts the projections only: no output matrix choice.
  BudgetOptions b;
  b.bits_per_weight = 3.0;
  b.measure = PlanMeasure::Weights;
  b.candidates = plan_candidates_from_list("2bit-g64,4bit-g64");
  EXPECT_FALSE(plan_for_budget(demo_dir(), QuantConfig{}, b).lm_head.has_value());
}

// An untied model: with a whole-model budget its embedding is a choice like the head (kept, 8 or
// 4 bits, its loss measured with the rows replaced); fixed (--embed-bits) it is counted at that
// size. Either way the planned total is what plan_size (and the writer) give.
TEST(BudgetPlanner, AnUntiedEmbeddingIsChosenOrCountedAtItsSize) {
  auto dir = test::fixtures() / "models" / "llama_gqa_fp32";
  BudgetOptions o;
  o.total_bytes = 0.1e6;  // embedding and head are 64 KB each in fp32: both kept cannot fit
  o.candidates = plan_candidates_from_list("1bit-g32,2bit-g32,2bit-g16");
  o.probe = {.sequences = 1, .length = 32, .seed = 1};
  const BudgetPlan p = plan_for_budget(dir, QuantConfig{}, o);
  ASSERT_TRUE(p.embed.has_value() && p.lm_head.has_value());
  EXPECT_EQ(p.embed_options, (std::vector<int>{0, 8, 4}));
  EXPECT_EQ(p.embed->errors[0], 0);
  EXPECT_GT(p.embed->errors[1], 0);  // KL with the rows replaced
  EXPECT_GT(p.embed->errors[2], p.embed->errors[1]);
  EXPECT_TRUE(p.plan.embed_bits != 0 || p.plan.lm_head_bits != 0);
  EXPECT_LE(p.quantized_bytes + p.kept_bytes, 0.1e6);
  for (int fixed : {-1, 8}) {
    BudgetOptions f = o;
    f.total_bytes = 0.2e6;
    f.embed_bits = fixed;
    f.measure = PlanMeasure::Weights;
    const BudgetPlan q = plan_for_budget(dir, QuantConfig{}, f);
    if (fixed > 0) {
      EXPECT_EQ(q.plan.embed_bits, fixed);
      EXPECT_EQ(q.embed_options, (std::vector<int>{fixed}));
    }
    const PlanSize s = plan_size(inspect_model(dir), q.plan);
    EXPECT_EQ(s.embed_quantized, q.plan.embed_bits != 0);
    EXPECT_NEAR(s.total_bytes, q.quantized_bytes + q.kept_bytes, 0.02 * s.total_bytes) << fixed;
    EXPECT_LE(q.quantized_bytes + q.kept_bytes, 0.2e6);
  }
}

TEST(BudgetPlanner, CandidateListsAndTheirExactBytes) {
  EXPECT_THROW(plan_candidates_from_list("2bit-g64,5bit-tl-g7"), InputError);
  EXPECT_EQ(plan_candidates_from_list("plain").size(), quant_presets().size());
  const auto all = plan_candidates();
  int rotated = 0, two_level = 0;
  for (const auto& c : all) rotated += c.rotate, two_level += c.two_level();
  EXPECT_GT(rotated, 0);
  EXPECT_GT(two_level, rotated);
  const PlanCandidate c = plan_candidates_from_list("3bit-tl-g32-rot").at(0);
  EXPECT_DOUBLE_EQ(c.layer_bytes(768, 256, 1), 768.0 * 256 * 3.375 / 8);
  EXPECT_LT(c.layer_bytes(100, 100, 1), 0);  // 100 inputs do not fill a super-group
  const QuantRule r = c.rule("model.layers.0.mlp.up_proj");
  EXPECT_EQ(r.scale_bits, 4);
  EXPECT_EQ(r.rotate, true);
}

}  // namespace
}  // namespace hqq
