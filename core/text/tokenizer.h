#pragma once
// Text <-> token ids, for either kind of tokenizer a checkpoint folder ships: a Hugging Face
// tokenizer.json (Llama 3, Qwen2.5, SmolLM2, Mistral-Nemo; chosen whenever the folder has one,
// as transformers' fast tokenizers are) or a sentencepiece tokenizer.model (Llama 2, Mistral,
// TinyLlama and the demo model, through the isolated plugin). Special-token strings in text
// ("<s>", "<|eot_id|>", ...) map to their ids when parse_special is set, as HF tokenizers do for
// rendered chat templates.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/job.h"

#include "core/text/tokenizer_config.h"

namespace hqq {

struct SpmLibrary;
namespace hf {
class HfTokenizer;
}

// What a model card says about a folder's tokenizer, read without building it.
struct TokenizerSummary {
  std::string kind;  // "tokenizer.json (BPE, ByteLevel)", "sentencepiece" or "none"
  std::vector<std::pair<int64_t, std::string>> special_tokens;  // (id, text)
  std::string problem;  // why it cannot be used, when it cannot
};
TokenizerSummary summarize_tokenizer(const std::filesystem::path& model_dir);

class Tokenizer {
 public:
  // tokenizer.json (else tokenizer.model) plus the folder's tokenizer/generation configs.
  // Throws InputError.
  static Tokenizer load(const std::filesystem::path& model_dir);
  // A bare tokenizer.model with default settings.
  static Tokenizer from_model_file(const std::filesystem::path& model_file);
  // A bare tokenizer.json with default settings.
  static Tokenizer from_json_file(const std::filesystem::path& json_file);

  // add_bos: the special tokens the tokenizer adds around a text (BOS for sentencepiece; what
  // tokenizer.json's post-processor says, which may be nothing).
  std::vector<int64_t> encode(std::string_view text, bool add_bos = false,
                              bool parse_special = false) const;
  // A long text (training data, an evaluation file) in pieces of about `piece_bytes`: one
  // encode() of a whole file costs ~240 bytes of memory per input byte, pieces bound that to
  // tens of MB and let job.check() stop it between pieces; each piece reports progress
  // ("tokenize", kB done, kB total). The ids equal encode(text, add_bos):
  // a cut falls only at a single space between two non-space characters, where every supported
  // pre-tokenization starts a new word (tokenizer_long_text.cpp says why per kind).
  std::vector<int64_t> encode_long(std::string_view text, bool add_bos, const JobContext& job = {},
                                   size_t piece_bytes = 256 * 1024) const;
  // Special tokens are left out unless skip_special is false (tokenizer.json only).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const;
  std::string piece(int64_t id) const;
  std::optional<int64_t> piece_id(std::string_view piece) const;
  int64_t vocab_size() const;
  std::optional<int64_t> bos_id() const { return bos_id_; }
  // Every id that ends generation (from generation_config.json, else the tokenizer's EOS).
  const std::vector<int64_t>& eos_ids() const { return eos_ids_; }
  const TokenizerConfig& config() const { return config_; }
  bool is_special(int64_t id) const;
  const std::string& model_path() const { return model_path_; }
  // "sentencepiece" or "tokenizer.json (BPE, ByteLevel)" and the like.
  std::string kind() const;
  // Special tokens (id, text) by id.
  std::vector<std::pair<int64_t, std::string>> special_tokens() const;

 private:
  struct Handle;
  std::shared_ptr<Handle> h_;
  std::shared_ptr<const hf::HfTokenizer> hf_;
  TokenizerConfig config_;
  std::string model_path_;
  std::optional<int64_t> bos_id_;
  std::vector<int64_t> eos_ids_;
  std::vector<std::pair<std::string, int64_t>> specials_;  // longest string first
};

}  // namespace hqq
