#pragma once
// The memory-budget planner: given a target size (bytes of the whole model, or average bits per
// quantized weight, meta included), choose a format per layer among every format the quantizer
// writes (plan_candidates.h: plain HQQ at every preset, two-level at 1-4 bits and sub-groups
// 8-64, with and without rotation) so that what the model loses is smallest.
//
// The error of a choice (PlanMeasure::Kl, the default) is the KL divergence the model shows when
// that one layer alone is quantized that way (kl_probe.h: on tokens the model samples itself, no
// text needed), summed over layers: KL adds up over small independent perturbations, and it
// weighs each layer by how much its errors move the output, which the sum of weight errors
// (PlanMeasure::Weights, ||W − Ŵ||²) does not. Up to `kl_direct_parameters` quantized weights the
// KL of every candidate that is not beaten in both bytes and weight error is measured; above, one
// candidate per layer is measured and the others scaled by their weight error.
//
// Then the multiple-choice knapsack: the best of three feasible answers is kept (a dynamic
// program over the budget, a Lagrangian relaxation with a greedy pass, every uniform choice).
// Every layer's bytes are exact (the count plan_size shows and the files hold), so a plan never
// exceeds its budget.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/quant/kl_probe.h"
#include "core/quant/plan_candidates.h"
#include "core/quant/quant_plan.h"

namespace hqq {

enum class PlanMeasure { Kl, Weights };

struct BudgetOptions {
  std::optional<double> total_bytes;      // whole model (kept tensors included)
  std::optional<double> bits_per_weight;  // average over the quantized layers, meta included
  std::vector<PlanCandidate> candidates;  // empty: plan_candidates()
  PlanMeasure measure = PlanMeasure::Kl;
  KlProbeOptions probe;
  int64_t kl_direct_parameters = 200'000'000;
  int64_t sample = 512;  // Weights (and the scaled KL): rows measured per layer; 0: all
  // Non-empty: the per-layer measurements are read from this file when it holds the same model,
  // candidates and measure settings, and written to it otherwise, so that planning the same
  // model for another budget takes the knapsack only.
  std::filesystem::path cache;
  // Budgets for the whole model: the output matrix (lm_head; the embedding too when tied, one
  // matrix) is one more choice of the knapsack, kept or quantized to 8 or 4 bits
  // (lm_head_quant_config), its loss measured like a layer's. -1: the planner chooses; 0, 8 or
  // 4: fixed (its bytes counted as such). Bit budgets count the projections only: no choice.
  int lm_head_bits = -1;
  // The same for an untied token embedding (rows dequantized when looked up; its loss measured
  // with the embedding replaced). In a tied model the embedding is the output matrix: a fixed
  // embed_bits fixes lm_head_bits.
  int embed_bits = -1;
};

struct LayerChoice {
  std::string module;
  int64_t parameters = 0;
  std::vector<double> errors;  // per candidate: predicted loss (infinite: not a choice)
  std::vector<double> bytes;   // per candidate (infinite: the shape does not fit)
  size_t chosen = 0;
  std::vector<double> weight_errors = {};  // per candidate, ||W − Ŵ||² (estimated)
};

struct BudgetPlan {
  QuantPlan plan;  // defaults + one override per layer
  std::vector<PlanCandidate> candidates;
  std::vector<LayerChoice> layers;
  PlanMeasure measure = PlanMeasure::Kl;
  double quantized_bytes = 0, kept_bytes = 0;
  double total_error = 0;    // predicted KL (Kl) or summed squared weight error (Weights)
  int64_t measurements = 0;  // KL evaluations run
  bool from_cache = false;
  // Whole-model budgets: the output matrix's and an untied embedding's choices among their
  // options (bits, 0 = kept); plan.lm_head_bits / embed_bits hold the chosen ones, kept_bytes
  // their bytes.
  std::optional<LayerChoice> lm_head, embed;
  std::vector<int> lm_head_options, embed_options;
  double bits_per_weight() const;  // of the projections (the output matrix is not counted)
};

// `base` gives the optimizer, iterations and axis; the formats come from the candidates.
BudgetPlan plan_for_budget(const std::filesystem::path& model_dir, const QuantConfig& base,
                           const BudgetOptions& o, const JobContext& job = {});

// The knapsack step alone (used by plan_for_budget; exposed for tests): picks one candidate per
// layer with sum of bytes <= budget minimising the summed error. Throws InputError when even the
// smallest choices do not fit.
void choose_candidates(std::vector<LayerChoice>& layers, double budget_bytes);

PlanMeasure plan_measure_from_name(const std::string& name);  // "kl", "weights"
const char* plan_measure_name(PlanMeasure m);

}  // namespace hqq
