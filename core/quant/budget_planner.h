#pragma once
// The memory-budget planner: given a target size (bytes of the whole model, or average bits per
// quantized weight), choose bits and group size per layer so that the total reconstruction error
// ||W - Ŵ||²_F summed over layers is smallest. Each layer's error is measured for every candidate
// (on a sample of its rows or columns, scaled up) with its stored bytes (hqq_layer_bytes, the
// same count plan_size shows); then the best of three feasible answers to the multiple-choice
// knapsack is kept: a dynamic program over the budget, a Lagrangian relaxation with a greedy
// pass over what is left, and every uniform choice that fits.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/quant/quant_plan.h"
#include "core/quant/quant_preset.h"

namespace hqq {

struct BudgetOptions {
  std::optional<double> total_bytes;      // whole model (kept tensors included)
  std::optional<double> bits_per_weight;  // average over the quantized layers
  std::vector<QuantPreset> candidates;    // empty: every preset
  int64_t sample = 512;  // rows (axis 1) or columns (axis 0) measured per layer; 0: all
};

struct LayerChoice {
  std::string module;
  int64_t parameters = 0;
  std::vector<double> errors;  // per candidate, estimated ||W - Ŵ||²
  std::vector<double> bytes;   // per candidate
  size_t chosen = 0;
};

struct BudgetPlan {
  QuantPlan plan;  // defaults + one override per layer
  std::vector<QuantPreset> candidates;
  std::vector<LayerChoice> layers;
  double quantized_bytes = 0, kept_bytes = 0;
  double total_error = 0;
  double bits_per_weight() const;
};

// `base` gives the optimizer and axis; bits and group sizes come from the candidates.
BudgetPlan plan_for_budget(const std::filesystem::path& model_dir, const QuantConfig& base,
                           const BudgetOptions& o, const JobContext& job = {});

// The knapsack step alone (used by plan_for_budget; exposed for tests): picks one candidate per
// layer with sum of bytes <= budget minimising the summed error. Throws InputError when even the
// smallest choices do not fit.
void choose_candidates(std::vector<LayerChoice>& layers, double budget_bytes);

}  // namespace hqq
