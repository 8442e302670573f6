#include "core/model/fused_projections.h"

namespace hqq {

std::vector<FusedProjection> fused_projections(const ModelConfig& c, int64_t layer) {
  if (!c.fused_projections) return {};
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  // transformers' Phi3Attention slices qkv as [q | k | v]; Phi3MLP chunks gate_up as [gate | up].
  return {{p + "self_attn.qkv_proj",
           {{p + "self_attn.q_proj", c.q_dim()},
            {p + "self_attn.k_proj", c.kv_dim()},
            {p + "self_attn.v_proj", c.kv_dim()}}},
          {p + "mlp.gate_up_proj",
           {{p + "mlp.gate_proj", c.intermediate_size}, {p + "mlp.up_proj", c.intermediate_size}}}};
}

std::vector<FusedProjection> fused_projections(const ModelConfig& c) {
  std::vector<FusedProjection> out;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    for (auto& f : fused_projections(c, l)) out.push_back(std::move(f));
  return out;
}

Checkpoint split_fused_projections(const Checkpoint& ckpt, const ModelConfig& c) {
  Checkpoint out = ckpt;
  for (const auto& f : fused_projections(c)) {
    for (const char* suffix : {".weight", ".bias"}) {
      if (!out.has(f.fused + suffix)) continue;
      std::vector<std::pair<std::string, int64_t>> parts;
      for (const auto& [name, rows] : f.parts) parts.push_back({name + suffix, rows});
      out = out.with_split(f.fused + suffix, parts);
    }
  }
  return out;
}

}  // namespace hqq
