#pragma once
// A quantization plan: default settings plus per-module overrides, e.g. attention 4-bit, MLP
// 2-bit, layer 0 kept. Embeddings and lm_head are always kept in 16-bit (the HQQ default).
//
// JSON form (hqq quantize --plan FILE):
//   {"nbits": 4, "group_size": 64, "axis": 1, "optimizer": "improved", "round_zero": false,
//    "overrides": [{"match": "mlp", "nbits": 2, "group_size": 32},
//                  {"match": "model.layers.0.*", "skip": true}]}
// Two-level formats (twolevel_format.h) add "scale_bits", "zero_bits" and "super_group" (in the
// defaults or an override; scale_bits 0 is plain HQQ with fp16 meta) and "rotate" (true: a
// seeded randomized Hadamard rotation of each layer's input, see incoherence.h).
// A match without '*' names a component path ("mlp", "self_attn.q_proj", "layers.3"); with '*'
// it is a glob over the full module name. Later overrides win.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/model/module_names.h"
#include "core/quant/hqq_quantizer.h"

namespace hqq {

struct QuantRule {
  std::string match;
  std::optional<int> nbits;
  std::optional<int64_t> group_size;
  std::optional<int> axis;
  bool skip = false;
  // Two-level formats (after `skip`, so that existing aggregate initialisers keep their meaning).
  std::optional<int> scale_bits = std::nullopt, zero_bits = std::nullopt;
  std::optional<int64_t> super_group = std::nullopt;
  std::optional<bool> rotate = std::nullopt;
};

struct QuantPlan {
  QuantConfig defaults;
  std::vector<QuantRule> overrides;

  // The settings for a decoder projection ("model.layers.3.mlp.down_proj"); nullopt: keep it.
  std::optional<QuantConfig> config_for(const std::string& module) const;
  static QuantPlan from_json(const nlohmann::json& j, const std::string& label);
  nlohmann::json to_json() const;
};

// "4bit-g64", "2bit-tl-g16" and the like (see quant_preset.h). Throws InputError for unknown names.
QuantPlan plan_from_preset(const std::string& preset);

}  // namespace hqq
