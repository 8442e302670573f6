#pragma once
// The architecture of a Llama-family checkpoint, read from config.json. Everything the engine
// does not implement is rejected here with a message that names the key, so a model never runs
// with silently wrong semantics.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hqq {

struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  enum class Activation { Silu, GeluTanh };  // silu; gelu_pytorch_tanh (Gemma's GeGLU)
  std::string model_type;                    // llama, mistral, qwen2, qwen3, phi3, gemma2
  std::string architecture;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // qwen2, or llama's attention_bias
  bool o_bias = false;    // llama's attention_bias
  bool mlp_bias = false;
  std::optional<int64_t> sliding_window;  // keys older than this many positions are masked
  // Which layers slide (Gemma 2 alternates); empty: every layer does when sliding_window is set.
  std::vector<bool> sliding_layers;
  Activation hidden_act = Activation::Silu;
  bool qk_norm = false;            // qwen3: RMSNorm over head_dim of each q and k head before RoPE
  bool norm_adds_one = false;      // gemma2: RMSNorm scales by (1 + weight), in fp32
  bool sandwich_norms = false;     // gemma2: norms after attention and around the MLP
  bool fused_projections = false;  // phi3: the checkpoint stores qkv_proj and gate_up_proj
  double embedding_multiplier = 1.0;  // gemma2: sqrt(hidden_size), rounded to the compute dtype
  double attention_scale = 0;         // scores multiplier; 1/sqrt(head_dim) unless the family says
  std::optional<double> attn_logit_softcapping;   // scores -> cap * tanh(scores / cap)
  std::optional<double> final_logit_softcapping;  // logits likewise
  std::string torch_dtype;                        // as written in config.json ("bfloat16", ...)
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  nlohmann::json raw;  // the whole file, for keys other modules read (quantization_config)

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  // The window of `layer`, if it slides.
  std::optional<int64_t> layer_window(int64_t layer) const {
    if (!sliding_window || sliding_layers.empty()) return sliding_window;
    return sliding_layers[static_cast<size_t>(layer)] ? sliding_window : std::nullopt;
  }
  // Parameters implied by the shapes (embeddings and lm_head counted once when tied).
  int64_t parameter_count() const;
};

// Parses a config.json document; `label` names the file in errors. Throws InputError.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& label);
ModelConfig load_model_config(const std::filesystem::path& dir);

class Checkpoint;
// Checks the config's sizes against the tensors a checkpoint actually holds (shapes from the
// safetensors headers, no weights read): as many layers as num_hidden_layers, embeddings of
// [vocab_size, hidden_size], dense projections of the implied shapes. Throws InputError naming
// the config key and the tensor. Every job that opens a checkpoint with its config calls it.
void check_config_against_weights(const ModelConfig& config, const Checkpoint& ckpt);

}  // namespace hqq
