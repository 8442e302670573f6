#pragma once
// What differs between the decoder families the engine runs (Llama incl. SmolLM2, Mistral incl.
// Nemo, Qwen2, Qwen3, Phi-3, Gemma 2), read from config.json the way transformers reads it for
// that model_type. A key whose value the engine does not implement is refused by name.
#include <nlohmann/json.hpp>
#include <string>

#include "core/model/model_config.h"

namespace hqq {

// "llama, mistral, ...": the model_type values the engine runs, for messages.
const char* supported_model_types();
bool is_supported_model_type(const std::string& model_type);

// Fills the family fields of `c` (biases, activation, norms, attention windows, scales and
// soft-caps, tied embeddings' default) after the generic ones (sizes, head_dim, rope) are read.
// Throws InputError naming `label` and the key.
void parse_family_config(const nlohmann::json& j, ModelConfig& c, const std::string& label);

}  // namespace hqq
