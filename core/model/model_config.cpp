#include "core/model/model_config.h"

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/model/model_family.h"

namespace hqq {
namespace {

int64_t get_int(const nlohmann::json& j, const char* key, const std::string& label,
                std::optional<int64_t> fallback = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    fail_input(label, std::string("missing required key \"") + key + "\"");
  }
  if (!it->is_number_integer())
    fail_input(label, std::string("\"") + key + "\" must be an integer");
  int64_t v = it->get<int64_t>();
  if (v <= 0) fail_input(label, std::string("\"") + key + "\" must be positive");
  return v;
}

double get_double(const nlohmann::json& j, const char* key, double fallback,
                  const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) fail_input(label, std::string("\"") + key + "\" must be a number");
  return it->get<double>();
}

bool get_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail_input(label, std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

std::vector<int64_t> int_or_list(const nlohmann::json& v) {
  std::vector<int64_t> out;
  if (v.is_number_integer()) out.push_back(v.get<int64_t>());
  if (v.is_array())
    for (const auto& e : v)
      if (e.is_number_integer()) out.push_back(e.get<int64_t>());
  return out;
}

RopeScaling parse_rope_scaling(const nlohmann::json& j, const std::string& label) {
  RopeScaling r;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return r;
  if (!it->is_object()) fail_input(label, "\"rope_scaling\" must be an object or null");
  const auto& rs = *it;
  std::string type = rs.value("rope_type", rs.value("type", std::string()));
  r.factor = get_double(rs, "factor", 1.0, label);
  if (type == "default") return r;
  if (type == "linear") {
    r.type = RopeScaling::Type::Linear;
  } else if (type == "llama3") {
    r.type = RopeScaling::Type::Llama3;
    r.low_freq_factor = get_double(rs, "low_freq_factor", 1.0, label);
    r.high_freq_factor = get_double(rs, "high_freq_factor", 4.0, label);
    r.original_max_position_embeddings =
        get_int(rs, "original_max_position_embeddings", label, 8192);
    if (r.high_freq_factor <= r.low_freq_factor)
      fail_input(label, "rope_scaling: high_freq_factor must exceed low_freq_factor");
  } else {
    fail_input(label, "rope_scaling type \"" + type +
                          "\" is not supported (supported: default, linear, llama3)");
  }
  if (!(r.factor > 0)) fail_input(label, "rope_scaling.factor must be positive");
  return r;
}

}  // namespace

int64_t ModelConfig::parameter_count() const {
  int64_t attn = hidden_size * q_dim() + 2 * hidden_size * kv_dim() + q_dim() * hidden_size;
  if (qkv_bias) attn += q_dim() + 2 * kv_dim();
  if (o_bias) attn += hidden_size;
  int64_t mlp = 3 * hidden_size * intermediate_size;
  if (mlp_bias) mlp += 2 * intermediate_size + hidden_size;
  int64_t layer = attn + mlp + (sandwich_norms ? 4 : 2) * hidden_size;
  if (qk_norm) layer += 2 * head_dim;
  int64_t emb = vocab_size * hidden_size;
  return num_hidden_layers * layer + emb * (tie_word_embeddings ? 1 : 2) + hidden_size;
}

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) fail_input(label, "config is not a JSON object");
  ModelConfig c;
  c.raw = j;
  c.model_type = j.value("model_type", std::string());
  if (!is_supported_model_type(c.model_type))
    fail_input(label, "model_type \"" + c.model_type +
                          "\" is not supported (supported: " + supported_model_types() + ")");
  if (auto a = j.find("architectures");
      a != j.end() && a->is_array() && !a->empty() && (*a)[0].is_string())
    c.architecture = (*a)[0].get<std::string>();
  c.vocab_size = get_int(j, "vocab_size", label);
  c.hidden_size = get_int(j, "hidden_size", label);
  c.intermediate_size = get_int(j, "intermediate_size", label);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", label);
  c.num_attention_heads = get_int(j, "num_attention_heads", label);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", label, c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail_input(label, "num_attention_heads must be a multiple of num_key_value_heads");
  if (c.hidden_size % c.num_attention_heads != 0 && !j.contains("head_dim"))
    fail_input(label,
               "hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  c.head_dim = get_int(j, "head_dim", label, c.hidden_size / c.num_attention_heads);
  if (c.head_dim % 2 != 0) fail_input(label, "head_dim must be even for rotary embeddings");
  c.max_position_embeddings = get_int(j, "max_position_embeddings", label, 2048);
  c.rms_norm_eps = get_double(j, "rms_norm_eps", 1e-6, label);
  c.rope_theta = get_double(j, "rope_theta", 10000.0, label);
  c.rope_scaling = parse_rope_scaling(j, label);
  if (auto p = j.find("partial_rotary_factor");
      p != j.end() && p->is_number() && p->get<double>() != 1.0)
    fail_input(label, "partial_rotary_factor other than 1 is not supported");
  c.mlp_bias = get_bool(j, "mlp_bias", false, label);
  // Biases, activation, norms, windows, soft-caps: per family (model_family.cpp).
  parse_family_config(j, c, label);
  c.torch_dtype = j.value("torch_dtype", j.value("dtype", std::string()));
  if (auto b = j.find("bos_token_id"); b != j.end() && b->is_number_integer())
    c.bos_token_id = b->get<int64_t>();
  if (auto e = j.find("eos_token_id"); e != j.end()) c.eos_token_ids = int_or_list(*e);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  auto path = dir / "config.json";
  if (!std::filesystem::exists(path))
    fail_input(dir.string(), "no config.json: not a Hugging Face model folder");
  return parse_model_config(read_json_file(path), path.string());
}

}  // namespace hqq
