#include "core/quant/model_card.h"

#include <cmath>

#include "core/quant/plan_size.h"
#include "core/quant/quant_plan.h"
#include "core/quant/quant_preset.h"

namespace hqq {

ModelInfo describe_model(const std::filesystem::path& dir) {
  ModelInfo info = inspect_model(dir);
  if (!info.quantization.empty()) return info;
  for (const auto& p : quant_presets()) {
    const PlanSize size = plan_size(info, plan_from_preset(p.name));
    info.estimates.push_back(
        {p.name, size.bits_per_weight, static_cast<uint64_t>(std::llround(size.total_bytes))});
  }
  // Two-level presets only where every layer fits them (inputs a multiple of the super-group).
  for (const auto& p : twolevel_presets()) {
    const PlanSize size = plan_size(info, plan_from_preset(p.name));
    if (size.invalid_layers > 0) continue;
    info.estimates.push_back(
        {p.name, size.bits_per_weight, static_cast<uint64_t>(std::llround(size.total_bytes))});
  }
  return info;
}

}  // namespace hqq
