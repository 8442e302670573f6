#pragma once
// A quantization plan: default settings plus per-module overrides, e.g. attention 4-bit, MLP
// 2-bit, layer 0 kept. Embeddings and lm_head stay as stored unless "embed_bits" /
// "lm_head_bits" ask for 8 or 4 bits (plain HQQ, group 128 or 64). lm_head is the largest single
// read of a decode step (131 MB in bf16 for a 32k x 2048 head) and the embeddings are most of a
// small model's file; llama.cpp's k-quant files keep both at 4-6 bits. A tied model has one
// matrix for both: either key quantizes it (both given must agree).
//
// JSON form (hqq quantize --plan FILE):
//   {"nbits": 4, "group_size": 64, "axis": 1, "optimizer": "improved", "round_zero": false,
//    "lm_head_bits": 8, "embed_bits": 8,
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
  int lm_head_bits = 0;  // 0: lm_head kept as stored; 8 or 4: quantized (lm_head_config)
  int embed_bits = 0;    // 0: model.embed_tokens kept as stored; 8 or 4: quantized

  // The settings for a decoder projection ("model.layers.3.mlp.down_proj"); nullopt: keep it.
  std::optional<QuantConfig> config_for(const std::string& module) const;
  // lm_head's settings when lm_head_bits asks for them (the same as `--lm-head-bits` at load).
  std::optional<QuantConfig> lm_head_config() const;
  std::optional<QuantConfig> embed_config() const;
  static QuantPlan from_json(const nlohmann::json& j, const std::string& label);
  nlohmann::json to_json() const;
};

// The format of a quantized lm_head or embedding matrix of `bits` (8: group 128, 4: group 64,
// improved solver, axis 1: rows dequantize on their own). Throws InputError naming `what` for
// other values.
QuantConfig lm_head_quant_config(int bits, const std::string& what);

// "4bit-g64", "2bit-tl-g16" and the like (see quant_preset.h). Throws InputError for unknown names.
QuantPlan plan_from_preset(const std::string& preset);

}  // namespace hqq
