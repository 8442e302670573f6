#pragma once
// A Hugging Face tokenizer.json tokenizer (the "fast" tokenizers of Llama 3, Qwen2.5, SmolLM2,
// Mistral-Nemo, GPT-2 ...): added tokens, normalizer, pre-tokenizer, BPE model, post-processor
// and decoder, each as the official library runs them, so the ids are the same. Immutable once
// loaded; safe to share between threads.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/text/hf_added_tokens.h"
#include "core/text/hf_bpe.h"
#include "core/text/hf_decoder.h"
#include "core/text/hf_normalizer.h"
#include "core/text/hf_post_processor.h"
#include "core/text/hf_pretokenizer.h"

namespace hqq::hf {

class HfTokenizer {
 public:
  // Throws InputError naming the file and the component it cannot run.
  static std::shared_ptr<const HfTokenizer> load(const std::filesystem::path& file);
  // "tokenizer.json (BPE, ByteLevel)" from the components, without building the model; the
  // special added tokens (id, content) into *specials when given.
  static std::string describe(const std::filesystem::path& file,
                              std::vector<std::pair<int64_t, std::string>>* specials = nullptr);

  // add_special: what the post-processor adds (BOS for Llama 3, nothing for Qwen2.5);
  // parse_special: special added tokens in the text become their ids (else plain text).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Token strings joined by the decoder; ids it does not know are skipped, as the library does.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const;
  const std::string* token(int64_t id) const;
  std::optional<int32_t> token_id(std::string_view token) const;
  int64_t vocab_size() const { return vocab_size_; }  // highest id + 1
  bool is_special(int64_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_.tokens(); }
  const PostProcessor& post_processor() const { return post_; }
  const std::string& description() const { return description_; }

 private:
  HfTokenizer() = default;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Bpe> bpe_;
  std::unique_ptr<Decoder> decoder_;
  PostProcessor post_;
  AddedTokens added_;
  std::vector<bool> special_;  // by id
  int64_t vocab_size_ = 0;
  std::string description_;
};

}  // namespace hqq::hf
