#include "core/text/tokenizer_config.h"

#include "core/base/error.h"
#include "core/base/json_file.h"

namespace hqq {
namespace {

// Special tokens are either plain strings or {"content": "..."} objects (AddedToken).
std::optional<std::string> token_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

void add_ids(const nlohmann::json& v, std::vector<int64_t>* out) {
  auto add = [out](int64_t id) {
    for (int64_t e : *out)
      if (e == id) return;
    out->push_back(id);
  };
  if (v.is_number_integer()) add(v.get<int64_t>());
  if (v.is_array())
    for (const auto& e : v)
      if (e.is_number_integer()) add(e.get<int64_t>());
}

}  // namespace

TokenizerConfig load_tokenizer_config(const std::filesystem::path& dir) {
  TokenizerConfig tc;
  const auto tok_path = dir / "tokenizer_config.json";
  nlohmann::json tok = read_json_file_if_exists(tok_path);
  if (!tok.is_object()) fail_input(tok_path.string(), "not a JSON object");
  if (auto s = token_string(tok, "bos_token")) tc.bos_token = *s;
  if (auto s = token_string(tok, "eos_token")) tc.eos_token = *s;
  if (auto s = token_string(tok, "unk_token")) tc.unk_token = *s;
  if (auto it = tok.find("add_bos_token"); it != tok.end() && it->is_boolean())
    tc.add_bos_token = it->get<bool>();
  if (auto it = tok.find("add_eos_token"); it != tok.end() && it->is_boolean())
    tc.add_eos_token = it->get<bool>();
  if (auto it = tok.find("chat_template"); it != tok.end()) {
    if (it->is_string()) {
      tc.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      for (const auto& e : *it) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template") ||
            !e["name"].is_string() || !e["template"].is_string())
          fail_input(tok_path.string(),
                     "chat_template list entries need string \"name\" and \"template\"");
        tc.named_templates[e["name"].get<std::string>()] = e["template"].get<std::string>();
      }
      if (tc.named_templates.count("default")) tc.chat_template = tc.named_templates["default"];
    } else if (!it->is_null()) {
      fail_input(tok_path.string(), "\"chat_template\" must be a string or a list");
    }
  }
  if (!tc.chat_template.empty()) tc.chat_template_file = tok_path.string();
  // Newer transformers save the template beside the config, and prefer that file when loading.
  if (const auto jinja_path = dir / "chat_template.jinja"; std::filesystem::exists(jinja_path)) {
    tc.chat_template = read_text_file(jinja_path);
    tc.chat_template_file = jinja_path.string();
  }
  if (auto it = tok.find("added_tokens_decoder"); it != tok.end() && it->is_object()) {
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e.value().is_object() || !e.value().contains("content")) continue;
      if (!e.value().value("special", false)) continue;
      try {
        tc.special_tokens[std::stoll(e.key())] = e.value()["content"].get<std::string>();
      } catch (const std::exception&) {
        fail_input(tok_path.string(),
                   "added_tokens_decoder key '" + e.key() + "' is not a token id");
      }
    }
  }
  // generation_config.json decides generation; config.json is the fallback.
  for (const char* name : {"generation_config.json", "config.json"}) {
    nlohmann::json j = read_json_file_if_exists(dir / name);
    if (!j.is_object()) continue;
    if (tc.eos_token_ids.empty())
      if (auto it = j.find("eos_token_id"); it != j.end()) add_ids(*it, &tc.eos_token_ids);
    if (!tc.bos_token_id)
      if (auto it = j.find("bos_token_id"); it != j.end() && it->is_number_integer())
        tc.bos_token_id = it->get<int64_t>();
  }
  // A chat model ends its turn with the tokenizer's eos_token (<|eot_id|>, <|im_end|>), which a
  // generation_config.json written for the base model may not list: stop on it too, as
  // transformers' chat pipelines and llama.cpp do.
  for (const auto& [id, text] : tc.special_tokens)
    if (text == tc.eos_token) add_ids(nlohmann::json(id), &tc.eos_token_ids);
  return tc;
}

}  // namespace hqq
