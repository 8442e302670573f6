#pragma once
// What a model folder says about its tokenizer beyond tokenizer.model: special token strings,
// whether to add BOS/EOS, chat templates (tokenizer_config.json), and end-of-sequence ids
// (generation_config.json, then config.json; eos_token_id may be a list).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hqq {

struct TokenizerConfig {
  std::string bos_token = "<s>";
  std::string eos_token = "</s>";
  std::string unk_token = "<unk>";
  bool add_bos_token = true;
  bool add_eos_token = false;
  std::string chat_template;       // the default one; empty when none
  std::string chat_template_file;  // chat_template.jinja or tokenizer_config.json: for errors
  std::map<std::string, std::string> named_templates;  // from a list-valued chat_template
  std::map<int64_t, std::string> special_tokens;  // added_tokens_decoder entries marked special
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // generation_config.json's, then eos_token's id
};

// Reads whichever of tokenizer_config.json, generation_config.json and config.json exist.
// Throws InputError naming the file when one is malformed.
TokenizerConfig load_tokenizer_config(const std::filesystem::path& dir);

}  // namespace hqq
