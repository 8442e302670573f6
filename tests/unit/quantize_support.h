#pragma once
// The common test step "quantize this checkpoint with that plan into a folder".
#include <filesystem>
#include <string>

#include "core/quant/quant_plan.h"
#include "core/quant/quantize_model.h"

namespace hqq::test {

inline QuantizeSummary quantize_to(const std::filesystem::path& source,
                                   const std::filesystem::path& output, QuantPlan plan) {
  QuantizeOptions o;
  o.source = source;
  o.output = output;
  o.plan = std::move(plan);
  return quantize_checkpoint(o);
}

inline QuantizeSummary quantize_to(const std::filesystem::path& source,
                                   const std::filesystem::path& output, const std::string& preset) {
  return quantize_to(source, output, plan_from_preset(preset));
}

}  // namespace hqq::test
