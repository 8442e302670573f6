#pragma once
// One call that turns a model folder into a runnable model and its tokenizer.
#include <filesystem>
#include <optional>
#include <string>

#include "core/base/device.h"
#include "core/model/llama_model.h"
#include "core/text/tokenizer.h"

namespace hqq {

// "auto", "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16". auto: bf16 for bf16
// checkpoints (fast on CPU through oneDNN) and for fp16 ones above 2B parameters; fp32
// otherwise (libtorch 1.13 has no fp16 matmul on CPU).
at::ScalarType parse_compute_dtype(const std::string& name, const ModelConfig& config);

struct LoadedModel {
  ModelConfig config;
  Device device;
  LlamaModel model;
  std::optional<Tokenizer> tokenizer;
  std::string tokenizer_problem;               // why there is none, when there is none
  const Tokenizer& require_tokenizer() const;  // throws InputError with tokenizer_problem
};

struct ModelLoadOptions {
  std::string dtype = "auto";     // see parse_compute_dtype
  std::filesystem::path adapter;  // a PEFT LoRA folder applied after loading; empty: none
  std::string device = "auto";    // see resolve_device (core/base/device.h)
  // 8 or 4: a dense lm_head is HQQ-quantized at load (group 128 / 64) so that decoding streams
  // half or a quarter of its bytes through the fused kernels; 0 keeps it as stored.
  int lm_head_bits = 0;
};

// The one way the CLI, the Chat and Evaluate pages and the fine-tune job open a model folder:
// dense or HQQ layers (any mix), the tokenizer when there is one, the adapter when asked.
LoadedModel load_model(const std::filesystem::path& dir, const ModelLoadOptions& o = {},
                       const JobContext& job = {});

}  // namespace hqq
