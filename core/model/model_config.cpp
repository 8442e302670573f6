#include "core/model/model_config.h"

#include <cmath>
#include <set>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/checkpoint.h"
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
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX))
    fail_input(label, std::string("\"") + key + "\" is out of range");
  int64_t v = it->get<int64_t>();
  if (v <= 0) fail_input(label, std::string("\"") + key + "\" must be positive");
  return v;
}

// Sizes beyond these are no model this engine can hold; bounding them keeps every size product
// below (sizes multiply to parameter counts, bytes and buffer lengths) far from int64 overflow.
constexpr int64_t kMaxWidth = int64_t{1} << 20;  // hidden, intermediate, q and kv widths
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxLayers = int64_t{1} << 14;
constexpr int64_t kMaxPositions = int64_t{1} << 30;

int64_t get_bounded(const nlohmann::json& j, const char* key, const std::string& label, int64_t max,
                    std::optional<int64_t> fallback = std::nullopt) {
  const int64_t v = get_int(j, key, label, fallback);
  if (v > max)
    fail_input(label, std::string("\"") + key + "\" is " + std::to_string(v) +
                          ", beyond the supported maximum of " + std::to_string(max));
  return v;
}

double get_double(const nlohmann::json& j, const char* key, double fallback,
                  const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) fail_input(label, std::string("\"") + key + "\" must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) fail_input(label, std::string("\"") + key + "\" must be finite");
  return v;
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
  std::string type = json_string(rs, "rope_type", json_string(rs, "type", "", label), label);
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
  c.model_type = json_string(j, "model_type", "", label);
  if (!is_supported_model_type(c.model_type))
    fail_input(label, "model_type \"" + c.model_type +
                          "\" is not supported (supported: " + supported_model_types() + ")");
  if (auto a = j.find("architectures");
      a != j.end() && a->is_array() && !a->empty() && (*a)[0].is_string())
    c.architecture = (*a)[0].get<std::string>();
  c.vocab_size = get_bounded(j, "vocab_size", label, kMaxVocab);
  c.hidden_size = get_bounded(j, "hidden_size", label, kMaxWidth);
  c.intermediate_size = get_bounded(j, "intermediate_size", label, kMaxWidth);
  c.num_hidden_layers = get_bounded(j, "num_hidden_layers", label, kMaxLayers);
  c.num_attention_heads = get_bounded(j, "num_attention_heads", label, kMaxWidth);
  c.num_key_value_heads =
      get_bounded(j, "num_key_value_heads", label, kMaxWidth, c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail_input(label, "num_attention_heads must be a multiple of num_key_value_heads");
  if (c.hidden_size % c.num_attention_heads != 0 && !j.contains("head_dim"))
    fail_input(label,
               "hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  c.head_dim = get_bounded(j, "head_dim", label, kMaxWidth, c.hidden_size / c.num_attention_heads);
  if (c.head_dim % 2 != 0) fail_input(label, "head_dim must be even for rotary embeddings");
  if (c.q_dim() > kMaxWidth || c.kv_dim() > kMaxWidth)
    fail_input(label, "num_attention_heads x head_dim is " + std::to_string(c.q_dim()) +
                          ", beyond the supported maximum of " + std::to_string(kMaxWidth));
  c.max_position_embeddings = get_bounded(j, "max_position_embeddings", label, kMaxPositions, 2048);
  c.rms_norm_eps = get_double(j, "rms_norm_eps", 1e-6, label);
  if (!(c.rms_norm_eps > 0 && c.rms_norm_eps < 1))
    fail_input(label, "\"rms_norm_eps\" must be between 0 and 1 (it is " +
                          std::to_string(c.rms_norm_eps) + ")");
  c.rope_theta = get_double(j, "rope_theta", 10000.0, label);
  if (!(c.rope_theta > 1))
    fail_input(label, "\"rope_theta\" must be greater than 1 (it is " +
                          std::to_string(c.rope_theta) + ")");
  c.rope_scaling = parse_rope_scaling(j, label);
  if (auto p = j.find("partial_rotary_factor");
      p != j.end() && p->is_number() && p->get<double>() != 1.0)
    fail_input(label, "partial_rotary_factor other than 1 is not supported");
  c.mlp_bias = get_bool(j, "mlp_bias", false, label);
  // Biases, activation, norms, windows, soft-caps: per family (model_family.cpp).
  parse_family_config(j, c, label);
  c.torch_dtype = json_string(j, "torch_dtype", json_string(j, "dtype", "", label), label);
  if (auto b = j.find("bos_token_id"); b != j.end() && b->is_number_integer())
    c.bos_token_id = b->get<int64_t>();
  if (auto e = j.find("eos_token_id"); e != j.end()) c.eos_token_ids = int_or_list(*e);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  auto path = dir / "config.json";
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    fail_input(dir.string(), "is a file, not a folder; a model folder is expected here");
  if (!std::filesystem::exists(path))
    fail_input(dir.string(), "no config.json: not a Hugging Face model folder");
  return parse_model_config(read_json_file(path), path.string());
}

}  // namespace hqq

namespace hqq {

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
}  // namespace

void check_config_against_weights(const ModelConfig& c, const Checkpoint& ckpt) {
  const std::string label = (ckpt.dir() / "config.json").string();
  // Layers the weights hold: the largest N of "model.layers.N." plus one.
  int64_t present = 0;
  for (const auto& name : ckpt.names()) {
    static const std::string prefix = "model.layers.";
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 6) continue;
    const std::string digits = name.substr(prefix.size(), dot - prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    present = std::max<int64_t>(present, std::stoll(digits) + 1);
  }
  if (c.num_hidden_layers > present)
    fail_input(label, "\"num_hidden_layers\" is " + std::to_string(c.num_hidden_layers) +
                          " but the weights in " + ckpt.dir().string() + " hold " +
                          std::to_string(present) + " layers (no tensor 'model.layers." +
                          std::to_string(present) + ".*')");
  // Every dense tensor whose shape follows from the config must have that shape; a quantized
  // projection (W_q, scale, zero) is checked by its own loader.
  auto expect = [&](const std::string& name, std::vector<int64_t> shape, const char* keys,
                    bool required) {
    if (!ckpt.has(name)) {
      if (required) fail_input(ckpt.dir().string(), "missing tensor '" + name + "'");
      return;
    }
    const auto& got = ckpt.entry(name).shape;
    if (got != shape)
      fail_input(label, std::string(keys) + " do not match the weights: '" + name + "' in " +
                            ckpt.file_of(name) + " is " + shape_str(got) + ", the config implies " +
                            shape_str(shape));
  };
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  // A quantized embedding (quantize --embed-bits) is checked by its own loader.
  expect("model.embed_tokens.weight", {c.vocab_size, h}, "\"vocab_size\" and \"hidden_size\"",
         !ckpt.has("model.embed_tokens.W_q"));
  expect("lm_head.weight", {c.vocab_size, h}, "\"vocab_size\" and \"hidden_size\"", false);
  expect("model.norm.weight", {h}, "\"hidden_size\"", false);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    expect(p + "input_layernorm.weight", {h}, "\"hidden_size\"", false);
    expect(p + "self_attn.q_proj.weight", {c.q_dim(), h},
           "\"hidden_size\", \"num_attention_heads\" and \"head_dim\"", false);
    expect(p + "self_attn.k_proj.weight", {c.kv_dim(), h},
           "\"hidden_size\", \"num_key_value_heads\" and \"head_dim\"", false);
    expect(p + "self_attn.v_proj.weight", {c.kv_dim(), h},
           "\"hidden_size\", \"num_key_value_heads\" and \"head_dim\"", false);
    expect(p + "self_attn.o_proj.weight", {h, c.q_dim()},
           "\"hidden_size\", \"num_attention_heads\" and \"head_dim\"", false);
    expect(p + "mlp.gate_proj.weight", {f, h}, "\"hidden_size\" and \"intermediate_size\"", false);
    expect(p + "mlp.up_proj.weight", {f, h}, "\"hidden_size\" and \"intermediate_size\"", false);
    expect(p + "mlp.down_proj.weight", {h, f}, "\"hidden_size\" and \"intermediate_size\"", false);
  }
}

}  // namespace hqq
