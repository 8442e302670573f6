#include "core/plan_size.h"

#include "core/quant_preset.h"

namespace hqq {

std::vector<ModuleShape> projection_shapes(const ModelConfig& c) {
  std::vector<ModuleShape> out;
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  const std::pair<const char*, std::pair<int64_t, int64_t>> kProj[] = {
      {"self_attn.q_proj", {c.q_dim(), h}},
      {"self_attn.k_proj", {c.kv_dim(), h}},
      {"self_attn.v_proj", {c.kv_dim(), h}},
      {"self_attn.o_proj", {h, c.q_dim()}},
      {"mlp.gate_proj", {f, h}},
      {"mlp.up_proj", {f, h}},
      {"mlp.down_proj", {h, f}}};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    for (const auto& [p, shape] : kProj)
      out.push_back({"model.layers." + std::to_string(l) + "." + p, shape.first, shape.second});
  return out;
}

PlanSize plan_size(const ModelInfo& info, const QuantPlan& plan) {
  PlanSize s;
  double quantized_bits = 0;
  for (const auto& m : projection_shapes(info.config)) {
    const int64_t n = m.out_features * m.in_features;
    auto cfg = plan.config_for(m.name);
    if (!cfg) {
      s.kept_parameters += n;
      continue;
    }
    const int64_t g =
        cfg->group_size > 0 ? cfg->group_size : (cfg->axis == 1 ? m.in_features : m.out_features);
    if (n % g != 0) ++s.invalid_layers;
    s.quantized_parameters += n;
    quantized_bits += static_cast<double>(n) * bits_per_weight(cfg->nbits, static_cast<int>(g));
  }
  const int64_t other = info.parameters - s.quantized_parameters - s.kept_parameters;
  s.kept_parameters += std::max<int64_t>(other, 0);
  s.bits_per_weight =
      s.quantized_parameters > 0 ? quantized_bits / static_cast<double>(s.quantized_parameters) : 0;
  s.total_bytes = quantized_bits / 8.0 + 2.0 * static_cast<double>(s.kept_parameters);
  return s;
}

}  // namespace hqq
