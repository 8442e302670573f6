#pragma once
// The formats the budget planner chooses from, per layer: plain HQQ (fp16 scale and zero per
// group) at every preset's bits and group size, and the two-level formats (integer sub-group
// meta under an fp16 pair per 256 weights, twolevel_format.h) at 2, 3 and 4 bits and sub-groups
// of 8 to 64, each with and without the randomized Hadamard rotation (incoherence.h). Each
// candidate knows its exact stored bytes for a layer shape, meta included (the count plan_size
// and the written files agree on), and the plan rule that selects it.
#include <cstdint>
#include <string>
#include <vector>

#include "core/quant/quant_plan.h"

namespace hqq {

struct PlanCandidate {
  std::string name;  // "2bit-g64", "3bit-tl-g32", "3bit-tl-g32-rot"
  int bits = 4;
  int64_t group_size = 64;
  int scale_bits = 0, zero_bits = 0;  // 0: plain HQQ (fp16 meta)
  int64_t super_group = 256;
  bool rotate = false;

  bool two_level() const { return scale_bits > 0; }
  // `base` (optimizer, iterations, axis) with this candidate's format.
  QuantConfig config(const QuantConfig& base) const;
  // An override selecting exactly this format for `module` (every format field set, so that
  // the plan's defaults do not leak into it).
  QuantRule rule(const std::string& module) const;
  // Bytes stored for a weight [out, in] under `axis` (plain HQQ only; two-level is axis 1);
  // negative when the format cannot hold that shape.
  double layer_bytes(int64_t out, int64_t in, int axis) const;
};

// Every plain preset and every two-level format, with and without rotation.
std::vector<PlanCandidate> plan_candidates();
// The plain presets only (quant_presets()), as the planner chose before two-level formats.
std::vector<PlanCandidate> plain_plan_candidates();
// "all", "plain", or names from plan_candidates() separated by commas ("2bit-tl-g16,3bit-g64").
// Throws InputError naming what is unknown.
std::vector<PlanCandidate> plan_candidates_from_list(const std::string& list);

}  // namespace hqq
