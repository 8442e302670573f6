#pragma once
// Names of the modules of a Llama-family decoder, and the pattern language that plans and
// adapters use to pick them. Both quantization (plans) and LoRA (targets) select modules by
// these names, so they live below both.
#include <cstdint>
#include <string>
#include <vector>

namespace hqq {

// "self_attn.q_proj" ... "mlp.down_proj": the seven projections of a decoder layer, in file order.
extern const char* const kProjectionSuffixes[7];

// The decoder projections of a Llama-family model, in file order
// ("model.layers.0.self_attn.q_proj").
std::vector<std::string> decoder_projections(int64_t num_layers);

// A pattern with '*' is a glob over the whole name; otherwise it matches whole dot-separated
// parts: "mlp" matches "model.layers.3.mlp.down_proj", "layers.3" does not match "layers.13".
bool module_matches(const std::string& module, const std::string& pattern);

}  // namespace hqq
