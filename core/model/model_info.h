#pragma once
// Everything the model card shows, read from config.json, the tokenizer configs and the
// safetensors headers only: never a byte of weight data, so it is instant on a 70B checkpoint.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/model/model_config.h"

namespace hqq {

struct SizeEstimate {
  std::string preset;
  double bits_per_weight = 0;  // of the quantized linear layers
  uint64_t bytes = 0;          // whole model; embeddings/lm_head/norms kept as stored
};

struct ModelInfo {
  std::string dir;
  ModelConfig config;
  int64_t parameters = 0;         // from the headers
  int64_t linear_parameters = 0;  // in decoder-layer projections (what HQQ quantizes)
  uint64_t weight_bytes = 0;      // tensor data
  uint64_t size_on_disk = 0;      // all files of the folder
  int shards = 0;
  int tensors = 0;
  std::map<std::string, int64_t> parameters_by_dtype;
  // "sentencepiece", "tokenizer.json (BPE, ByteLevel)" and the like, or "none"; with the
  // reason when it cannot be used.
  std::string tokenizer;
  std::vector<std::pair<int64_t, std::string>> special_tokens;  // (id, text) by id
  bool has_chat_template = false;
  std::vector<int64_t> eos_token_ids;
  std::string quantization;  // empty, or e.g. "hqq 4-bit g64 axis 1 (improved), 2 overrides"
  std::vector<SizeEstimate> estimates;  // filled by describe_model (quant/model_card.h)
};

// Bytes per parameter of what quantization keeps as stored (embeddings, norms, skipped layers).
double kept_bytes_per_parameter(const ModelInfo& info);

// The card without size estimates (those need the quantization layer: see describe_model).
ModelInfo inspect_model(const std::filesystem::path& dir);
nlohmann::json to_json(const ModelInfo& info);

}  // namespace hqq
