#pragma once
// LoRA adapters (HQQ+): a low-rank update trained on top of a frozen (typically HQQ-quantized)
// linear layer, y = base(x) + (dropout(x) Aᵀ) Bᵀ · alpha / r, stored in the Hugging Face PEFT
// format so that other tools read the adapters: adapter_config.json and
// adapter_model.safetensors with base_model.model.<module>.lora_A.weight [r, in] and
// .lora_B.weight [out, r].
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/linear.h"

namespace hqq {

class LlamaModel;

struct LoraConfig {
  int64_t r = 16;
  double alpha = 16;
  double dropout = 0.0;
  // Module name patterns (see module_matches): "q_proj", "mlp", "*"...; default: all 7 projections.
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  // Per-pattern rank/alpha, as in the HQQ+ recipe (attention r=32, MLP r=8).
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  std::string base_model_name_or_path;
  nlohmann::json to_peft_json() const;
  static LoraConfig from_peft_json(const nlohmann::json& j, const std::string& label);
};

class LoraLinear final : public Linear {
 public:
  LoraLinear(std::unique_ptr<Linear> base, int64_t r, double alpha, double dropout, uint64_t seed);
  at::Tensor forward(const at::Tensor& x) const override;
  int64_t in_features() const override { return base_->in_features(); }
  int64_t out_features() const override { return base_->out_features(); }
  std::string kind() const override { return "lora(" + base_->kind() + ")"; }
  int64_t storage_bytes() const override;
  std::vector<std::pair<std::string, at::Tensor*>> parameters() override;

  const Linear& base() const { return *base_; }
  at::Tensor& lora_a() { return a_; }  // [r, in]
  at::Tensor& lora_b() { return b_; }  // [out, r]
  double scaling() const { return scaling_; }
  int64_t rank() const { return a_.size(0); }
  // scaling · B A, the update to add to the base weight [out, in].
  at::Tensor delta() const;
  void set_training(bool on) { training_ = on; }

 private:
  std::unique_ptr<Linear> base_;
  at::Tensor a_, b_;
  double scaling_ = 1.0, dropout_ = 0.0;
  bool training_ = false;
};

// Wraps every matching decoder projection of `model` (never lm_head) and returns the number
// wrapped. The LoRA tensors are fp32 and require grad; everything else is left frozen.
int64_t apply_lora(LlamaModel& model, const LoraConfig& cfg, uint64_t seed = 0);
// The LoRA layers of a model, by module name.
std::vector<std::pair<std::string, LoraLinear*>> lora_layers(LlamaModel& model);
void set_lora_training(LlamaModel& model, bool on);

// PEFT-format save / load (adapter_config.json + adapter_model.safetensors), written atomically.
void save_adapter(LlamaModel& model, const LoraConfig& cfg, const std::filesystem::path& dir);
// Applies the adapter in `dir` to `model`; throws InputError naming the file on any mismatch.
LoraConfig load_adapter(LlamaModel& model, const std::filesystem::path& dir);
// The weight update scaling·B·A [out, in] (fp32) of every module an adapter folder holds.
std::map<std::string, at::Tensor> adapter_deltas(const std::filesystem::path& dir);

}  // namespace hqq
