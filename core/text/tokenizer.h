#pragma once
// Text <-> token ids for sentencepiece models (Llama, Mistral, TinyLlama and the demo model),
// through the isolated plugin. Special-token strings in text ("<s>", "[INST]", ...) map to their
// ids when parse_special is set, as HF tokenizers do for rendered chat templates.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/text/tokenizer_config.h"

namespace hqq {

struct SpmLibrary;

class Tokenizer {
 public:
  // tokenizer.model plus the folder's tokenizer/generation configs. Throws InputError.
  static Tokenizer load(const std::filesystem::path& model_dir);
  // A bare tokenizer.model with default settings.
  static Tokenizer from_model_file(const std::filesystem::path& model_file);

  std::vector<int64_t> encode(std::string_view text, bool add_bos = false,
                              bool parse_special = false) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  std::string piece(int64_t id) const;
  std::optional<int64_t> piece_id(std::string_view piece) const;
  int64_t vocab_size() const;
  std::optional<int64_t> bos_id() const { return bos_id_; }
  // Every id that ends generation (from generation_config.json, else the tokenizer's EOS).
  const std::vector<int64_t>& eos_ids() const { return eos_ids_; }
  const TokenizerConfig& config() const { return config_; }
  bool is_special(int64_t id) const;
  const std::string& model_path() const { return model_path_; }

 private:
  struct Handle;
  std::shared_ptr<Handle> h_;
  TokenizerConfig config_;
  std::string model_path_;
  std::optional<int64_t> bos_id_;
  std::vector<int64_t> eos_ids_;
  std::vector<std::pair<std::string, int64_t>> specials_;  // longest string first
};

}  // namespace hqq
