#include "core/quant/plan_size.h"

#include "core/base/error.h"
#include "core/model/module_names.h"
#include "core/quant/layer_bytes.h"
#include "core/quant/twolevel_solver.h"

namespace hqq {

std::vector<ModuleShape> projection_shapes(const ModelConfig& c) {
  // The names come from the quantizer's own list (decoder_projections), the shapes from config.
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  auto shape = [&](const std::string& name) -> std::pair<int64_t, int64_t> {
    auto is = [&](const char* proj) { return name.ends_with(proj); };
    if (is("q_proj")) return {c.q_dim(), h};
    if (is("k_proj") || is("v_proj")) return {c.kv_dim(), h};
    if (is("o_proj")) return {h, c.q_dim()};
    if (is("down_proj")) return {h, f};
    return {f, h};  // gate_proj, up_proj
  };
  std::vector<ModuleShape> out;
  for (const std::string& name : decoder_projections(c.num_hidden_layers)) {
    const auto [rows, cols] = shape(name);
    out.push_back({name, rows, cols});
  }
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
    s.quantized_parameters += n;
    if (cfg->two_level()) {  // exactly what twolevel_state_layout will write
      const TwoLevelParams p = twolevel_params(*cfg);
      try {
        check_twolevel(p, m.out_features, m.in_features, m.name);
      } catch (const InputError&) {
        ++s.invalid_layers;
        quantized_bits += 8.0 * static_cast<double>(n) * twolevel_bits_per_weight(p) / 8.0;
        continue;
      }
      quantized_bits +=
          8.0 * static_cast<double>(twolevel_layer_bytes(p, m.out_features, m.in_features));
      continue;
    }
    const int64_t g =
        cfg->group_size > 0 ? cfg->group_size : (cfg->axis == 1 ? m.in_features : m.out_features);
    if (n % g != 0) ++s.invalid_layers;
    quantized_bits += 8.0 * hqq_layer_bytes(cfg->nbits, n, g, cfg->axis);
  }
  const int64_t other = info.parameters - s.quantized_parameters - s.kept_parameters;
  s.kept_parameters += std::max<int64_t>(other, 0);
  // A quantized embedding or lm_head leaves the kept part; a tied model has one matrix for both
  // (stored once, as quantize_checkpoint writes it).
  double head_bytes = 0;
  const int64_t matrix = info.config.vocab_size * info.config.hidden_size;
  auto quantize_matrix = [&](const std::optional<QuantConfig>& cfg) {
    if (!cfg) return false;
    head_bytes += hqq_layer_bytes(cfg->nbits, matrix, cfg->group_size, cfg->axis);
    s.kept_parameters -= std::min(matrix, s.kept_parameters);
    s.matrix_parameters += matrix;
    return true;
  };
  if (info.config.tie_word_embeddings) {
    s.embed_quantized = s.lm_head_quantized =
        quantize_matrix(plan.embed_bits ? plan.embed_config() : plan.lm_head_config());
  } else {
    s.embed_quantized = quantize_matrix(plan.embed_config());
    s.lm_head_quantized = quantize_matrix(plan.lm_head_config());
  }
  s.bits_per_weight =
      s.quantized_parameters > 0 ? quantized_bits / static_cast<double>(s.quantized_parameters) : 0;
  s.total_bytes = quantized_bits / 8.0 + head_bytes +
                  kept_bytes_per_parameter(info) * static_cast<double>(s.kept_parameters);
  return s;
}

}  // namespace hqq
