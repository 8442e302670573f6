#include "core/quant/plan_candidates.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/quant/layer_bytes.h"
#include "core/quant/quant_preset.h"
#include "core/quant/twolevel_solver.h"

namespace hqq {

QuantConfig PlanCandidate::config(const QuantConfig& base) const {
  QuantConfig c = base;
  c.nbits = bits;
  c.group_size = group_size;
  c.scale_bits = scale_bits;
  c.zero_bits = zero_bits;
  c.super_group = super_group;
  c.rotate = rotate;
  if (two_level()) c.axis = 1;
  return c;
}

QuantRule PlanCandidate::rule(const std::string& module) const {
  QuantRule r;
  r.match = module;
  r.nbits = bits;
  r.group_size = group_size;
  r.scale_bits = scale_bits;
  if (two_level()) {
    r.axis = 1;
    r.zero_bits = zero_bits;
    r.super_group = super_group;
  }
  r.rotate = rotate;
  return r;
}

double PlanCandidate::layer_bytes(int64_t out, int64_t in, int axis) const {
  if (two_level()) {
    const TwoLevelParams p{bits, group_size, scale_bits, zero_bits, super_group};
    try {
      check_twolevel(p, out, in, name);
    } catch (const InputError&) {
      return -1;
    }
    return static_cast<double>(twolevel_layer_bytes(p, out, in));
  }
  const int64_t g = group_size > 0 ? group_size : (axis == 1 ? in : out);
  if ((out * in) % g != 0 || (axis == 1 && in % g != 0) || (axis == 0 && out % g != 0)) return -1;
  return hqq_layer_bytes(bits, out * in, g, axis);
}

std::vector<PlanCandidate> plain_plan_candidates() {
  std::vector<PlanCandidate> out;
  for (const auto& p : quant_presets()) out.push_back({p.name, p.bits, p.group_size});
  return out;
}

std::vector<PlanCandidate> plan_candidates() {
  std::vector<PlanCandidate> out = plain_plan_candidates();
  // 4-bit sub-group meta under one fp16 pair per 256 weights (the two-level presets' choice):
  // bits + 8 / group + 0.125 per weight, from 1.25 (1-bit g64) to 5.125 (4-bit g8).
  for (int bits : {1, 2, 3, 4})
    for (int64_t group : {64, 32, 16, 8})
      for (bool rotate : {false, true}) {
        const std::string name =
            std::to_string(bits) + "bit-tl-g" + std::to_string(group) + (rotate ? "-rot" : "");
        out.push_back({name, bits, group, 4, 4, 256, rotate});
      }
  return out;
}

std::vector<PlanCandidate> plan_candidates_from_list(const std::string& list) {
  if (list == "all") return plan_candidates();
  if (list == "plain") return plain_plan_candidates();
  const std::vector<PlanCandidate> all = plan_candidates();
  std::vector<PlanCandidate> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.name == name; });
    if (it == all.end()) {
      std::string names;
      for (const auto& c : all) names += (names.empty() ? "" : ", ") + c.name;
      throw InputError("unknown planner format '" + name + "' (all, plain, or a list of: " + names +
                       ")");
    }
    out.push_back(*it);
    start = end + 1;
  }
  return out;
}

}  // namespace hqq
