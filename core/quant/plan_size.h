#pragma once
// What a quantization plan costs before anything is quantized: per-module shapes come from
// config.json and each layer's bytes from hqq_layer_bytes (the count the planner and the model
// card use too), so the GUI can show bits per weight and model size live while a plan is edited.
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/model_info.h"
#include "core/quant/quant_plan.h"

namespace hqq {

struct ModuleShape {
  std::string name;  // "model.layers.0.self_attn.q_proj"
  int64_t out_features = 0, in_features = 0;
};

// The decoder projections of a model, with their weight shapes.
std::vector<ModuleShape> projection_shapes(const ModelConfig& c);

struct PlanSize {
  double bits_per_weight = 0;  // over the quantized projections (codes + scale/zero)
  double total_bytes = 0;      // whole model: quantized layers + everything kept as stored
  int64_t quantized_parameters = 0, kept_parameters = 0;
  // Quantized embedding / lm_head matrices (plan.embed_bits, lm_head_bits): in total_bytes, not
  // in bits_per_weight (the projections'). A tied matrix counts once and sets both flags.
  int64_t matrix_parameters = 0;
  bool embed_quantized = false, lm_head_quantized = false;
  int invalid_layers = 0;  // layers whose group size does not divide them (the job would refuse)
};

PlanSize plan_size(const ModelInfo& info, const QuantPlan& plan);

}  // namespace hqq
