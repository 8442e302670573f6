#pragma once
// Phi-3 stores q/k/v as one qkv_proj and gate/up as one gate_up_proj. The engine keeps every
// projection apart, under the usual names, so that each is its own quantizable, LoRA-targetable
// layer: checkpoints are split when read (zero-copy row blocks) and joined again when a plain
// checkpoint is written for other tools.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/model/model_config.h"

namespace hqq {

struct FusedProjection {
  std::string fused;                                   // "model.layers.0.self_attn.qkv_proj"
  std::vector<std::pair<std::string, int64_t>> parts;  // ("model.layers.0.self_attn.q_proj", rows)
};

// The fused projections of layer `layer` (none for families that do not fuse).
std::vector<FusedProjection> fused_projections(const ModelConfig& c, int64_t layer);
// All of them, layer by layer.
std::vector<FusedProjection> fused_projections(const ModelConfig& c);

// `ckpt` with every fused projection it stores (weight, and bias if any) replaced by its parts.
// A checkpoint that already stores the parts (an HQQ folder written by this tool) is unchanged.
Checkpoint split_fused_projections(const Checkpoint& ckpt, const ModelConfig& c);

}  // namespace hqq
