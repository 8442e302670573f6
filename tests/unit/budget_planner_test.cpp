#include <gtest/gtest.h>

#include <random>

#include "core/quant/budget_planner.h"
#include "core/quant/plan_size.h"
#include "core/io/checkpoint.h"
#include "core/base/error.h"
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
  BudgetPlan p = plan_for_budget(dir, QuantConfig{}, o);
  int three_bit = 0;
  for (const auto& l : p.layers) three_bit += p.candidates[l.chosen].bits == 3;
  ASSERT_GT(three_bit, 0);
  const PlanSize s = plan_size(inspect_model(dir), p.plan);
  EXPECT_NEAR(s.bits_per_weight, p.bits_per_weight(), 1e-9);
  EXPECT_LE(s.bits_per_weight, 3.6 + 1e-9);
}

}  // namespace
}  // namespace hqq
