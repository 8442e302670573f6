#include "core/model/model_family.h"

#include <cmath>

#include "core/base/error.h"

namespace hqq {
namespace {

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

bool flag(const nlohmann::json& j, const char* key, bool fallback, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail_input(label, quoted(key) + " must be true or false");
  return it->get<bool>();
}

// A positive number, or nullopt when the key is null; `fallback` when it is absent.
std::optional<double> positive_or_null(const nlohmann::json& j, const char* key,
                                       std::optional<double> fallback, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_null()) return std::nullopt;
  if (!it->is_number() || !(it->get<double>() > 0))
    fail_input(label, quoted(key) + " must be a positive number or null");
  return it->get<double>();
}

ModelConfig::Activation activation(const nlohmann::json& j, const char* key,
                                   const std::string& fallback, const std::string& label) {
  auto it = j.find(key);
  const std::string act = it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
  if (act == "silu" || act == "swish") return ModelConfig::Activation::Silu;
  if (act == "gelu_pytorch_tanh") return ModelConfig::Activation::GeluTanh;
  fail_input(label, std::string(key) + " " + quoted(act) +
                        " is not supported (supported: silu, gelu_pytorch_tanh)");
}

std::optional<int64_t> window(const nlohmann::json& j) {
  auto w = j.find("sliding_window");
  if (w != j.end() && w->is_number_integer() && w->get<int64_t>() > 0) return w->get<int64_t>();
  return std::nullopt;
}

// transformers >= 4.53 lists each layer's attention type; when present it is authoritative.
bool read_layer_types(const nlohmann::json& j, ModelConfig& c, const std::string& label) {
  auto it = j.find("layer_types");
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_array() || static_cast<int64_t>(it->size()) != c.num_hidden_layers)
    fail_input(label, "\"layer_types\" must list one attention type per layer");
  c.sliding_layers.clear();
  for (const auto& t : *it) {
    const std::string s = t.is_string() ? t.get<std::string>() : t.dump();
    if (s != "full_attention" && s != "sliding_attention")
      fail_input(label, "layer_types entry " + quoted(s) +
                            " is not supported (supported: full_attention, sliding_attention)");
    c.sliding_layers.push_back(s == "sliding_attention");
  }
  return true;
}

}  // namespace

const char* supported_model_types() {
  return "llama, mistral, qwen2, qwen3, phi3, gemma2";
}

bool is_supported_model_type(const std::string& t) {
  return t == "llama" || t == "mistral" || t == "qwen2" || t == "qwen3" || t == "phi3" ||
         t == "gemma2";
}

void parse_family_config(const nlohmann::json& j, ModelConfig& c, const std::string& label) {
  const std::string& t = c.model_type;
  // Gemma 2's MLP reads hidden_activation; every other family reads hidden_act.
  c.hidden_act = t == "gemma2" ? activation(j, "hidden_activation", "gelu_pytorch_tanh", label)
                               : activation(j, "hidden_act", "silu", label);

  // Biases as each modeling file builds its Linear layers.
  const bool attention_bias = flag(j, "attention_bias", false, label);
  c.qkv_bias = t == "qwen2" || (t != "phi3" && attention_bias);
  c.o_bias = t != "qwen2" && t != "phi3" && attention_bias;
  if (t != "llama") c.mlp_bias = false;  // only LlamaMLP has mlp_bias

  c.tie_word_embeddings = flag(j, "tie_word_embeddings", t == "gemma2", label);
  c.attention_scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  c.qk_norm = t == "qwen3";
  c.fused_projections = t == "phi3";

  if (flag(j, "use_bidirectional_attention", false, label))
    fail_input(label, "\"use_bidirectional_attention\" true is not supported (causal only)");

  if (t == "mistral" || t == "phi3") c.sliding_window = window(j);
  if (t == "qwen2" || t == "qwen3") {
    // Qwen2Config/Qwen3Config: the window exists only with use_sliding_window, and then applies
    // to the layers from max_window_layers (default 28) on, unless layer_types says otherwise.
    const bool use = flag(j, "use_sliding_window", false, label);
    c.sliding_window = use ? window(j) : std::nullopt;
    if (!read_layer_types(j, c, label) && use) {
      auto m = j.find("max_window_layers");
      const int64_t from = m != j.end() && m->is_number_integer() ? m->get<int64_t>() : 28;
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.sliding_layers.push_back(l >= from);
    }
  }
  if (t == "gemma2") {
    c.norm_adds_one = true;
    c.sandwich_norms = true;
    c.embedding_multiplier = std::sqrt(static_cast<double>(c.hidden_size));
    auto q = positive_or_null(j, "query_pre_attn_scalar", 256.0, label);
    if (!q) fail_input(label, "\"query_pre_attn_scalar\" must be a positive number");
    c.attention_scale = 1.0 / std::sqrt(*q);
    c.attn_logit_softcapping = positive_or_null(j, "attn_logit_softcapping", 50.0, label);
    c.final_logit_softcapping = positive_or_null(j, "final_logit_softcapping", 30.0, label);
    auto w = j.find("sliding_window");
    c.sliding_window = w == j.end() ? std::optional<int64_t>(4096) : window(j);
    if (!read_layer_types(j, c, label))
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.sliding_layers.push_back(l % 2 == 0);
  }
}

}  // namespace hqq
