#include "core/model/model_info.h"

#include <cmath>

#include "core/io/checkpoint.h"
#include "core/io/safetensors_header.h"
#include "core/text/tokenizer.h"
#include "core/text/tokenizer_config.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {
bool is_layer_projection(const std::string& name) {
  if (name.rfind("model.layers.", 0) != 0) return false;
  if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) return false;
  return name.find("_proj.") != std::string::npos;
}
}  // namespace

double kept_bytes_per_parameter(const ModelInfo& info) {
  return info.parameters > 0
             ? static_cast<double>(info.weight_bytes) / static_cast<double>(info.parameters)
             : 2.0;
}

ModelInfo inspect_model(const fs::path& dir) {
  ModelInfo info;
  info.dir = dir.string();
  info.config = load_model_config(dir);
  check_config_against_weights(info.config, Checkpoint::open(dir));  // headers only
  std::map<std::string, std::string> weight_map;
  auto files = checkpoint_weight_files(dir, &weight_map);
  info.shards = static_cast<int>(files.size());
  for (const auto& f : files) {
    SafetensorsHeader h = read_safetensors_header(f.string());
    std::string fname = f.filename().string();
    for (const auto& t : h.tensors) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != fname) continue;
      }
      ++info.tensors;
      info.weight_bytes += t.nbytes();
      int64_t n = static_cast<int64_t>(t.numel());
      info.parameters += n;
      info.parameters_by_dtype[dtype_name(t.dtype)] += n;
      if (is_layer_projection(t.name)) info.linear_parameters += n;
    }
  }
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) info.size_on_disk += e.file_size();
  TokenizerSummary ts = summarize_tokenizer(dir);
  info.tokenizer = ts.problem.empty() ? ts.kind : ts.kind + " (not usable: " + ts.problem + ")";
  info.special_tokens = std::move(ts.special_tokens);
  TokenizerConfig tc = load_tokenizer_config(dir);
  info.has_chat_template = !tc.chat_template.empty();
  info.eos_token_ids = tc.eos_token_ids;
  if (auto q = info.config.raw.find("quantization_config");
      q != info.config.raw.end() && q->is_object()) {
    // Stored elements are packed codes: count the parameters the layers stand for instead.
    const auto& c = info.config;
    info.parameters = c.parameter_count();
    info.linear_parameters =
        c.num_hidden_layers * (2 * c.hidden_size * c.q_dim() + 2 * c.hidden_size * c.kv_dim() +
                               3 * c.hidden_size * c.intermediate_size);
    info.quantization = q->value("quant_method", std::string("unknown"));
    auto plan = q->find("hqq_studio");
    if (plan != q->end() && plan->contains("plan")) {
      const auto& p = (*plan)["plan"];
      info.quantization += " " + std::to_string(p.value("nbits", 0)) + "-bit g" +
                           std::to_string(p.value("group_size", 0)) + " axis " +
                           std::to_string(p.value("axis", 1)) + " (" +
                           p.value("optimizer", std::string("?")) + ")";
      if (p.contains("overrides") && !p["overrides"].empty())
        info.quantization += ", " + std::to_string(p["overrides"].size()) + " override(s)";
      auto bits = [&](const char* key) {
        const auto it = p.find(key);
        return it != p.end() && it->is_number_integer() ? it->get<int>() : 0;
      };
      const int embed = bits("embed_bits"), head = bits("lm_head_bits");
      if (c.tie_word_embeddings && (embed || head)) {
        info.quantization +=
            ", embeddings + lm_head (tied) " + std::to_string(embed ? embed : head) + "-bit";
      } else {
        if (embed) info.quantization += ", embeddings " + std::to_string(embed) + "-bit";
        if (head) info.quantization += ", lm_head " + std::to_string(head) + "-bit";
      }
    }
    if (plan != q->end() && plan->is_object() && plan->contains("calibration") &&
        (*plan)["calibration"].is_object()) {
      const auto& c = (*plan)["calibration"];
      const auto text = c.find("text");
      const auto tokens = c.find("tokens");
      info.quantization +=
          ", calibrated on " +
          (text != c.end() && text->is_string() ? text->get<std::string>() : std::string("a text"));
      if (tokens != c.end() && tokens->is_number_integer())
        info.quantization += " (" + std::to_string(tokens->get<int64_t>()) + " tokens)";
    }
    return info;
  }
  return info;
}

nlohmann::json to_json(const ModelInfo& info) {
  const auto& c = info.config;
  nlohmann::json est = nlohmann::json::array();
  for (const auto& e : info.estimates)
    est.push_back(
        {{"preset", e.preset}, {"bits_per_weight", e.bits_per_weight}, {"bytes", e.bytes}});
  return {
      {"dir", info.dir},
      {"model_type", c.model_type},
      {"architecture", c.architecture},
      {"parameters", info.parameters},
      {"linear_parameters", info.linear_parameters},
      {"weight_bytes", info.weight_bytes},
      {"size_on_disk", info.size_on_disk},
      {"shards", info.shards},
      {"tensors", info.tensors},
      {"parameters_by_dtype", info.parameters_by_dtype},
      {"torch_dtype", c.torch_dtype},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"tokenizer", info.tokenizer},
      {"special_tokens",
       [&] {
         nlohmann::json a = nlohmann::json::array();
         for (const auto& [id, text] : info.special_tokens)
           a.push_back({{"id", id}, {"text", text}});
         return a;
       }()},
      {"chat_template", info.has_chat_template},
      {"eos_token_ids", info.eos_token_ids},
      {"size_estimates", est},
      {"quantization", info.quantization},
  };
}

}  // namespace hqq
