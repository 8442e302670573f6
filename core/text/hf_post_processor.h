#pragma once
// tokenizer.json "post_processor": the special tokens encode adds around the text.
// TemplateProcessing (its "single" template), BertProcessing and RobertaProcessing (the same
// shape), ByteLevel (offsets only: nothing to do for ids) and Sequence.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hqq::hf {

class PostProcessor {
 public:
  // Throws InputError("<file>: <Type> post-processor: not supported") for other kinds.
  PostProcessor(const nlohmann::json& j, const std::string& file);
  PostProcessor() = default;
  void apply(std::vector<int32_t>& ids) const;
  // Ids the first template puts before / after the text: BOS and EOS as the file says.
  std::vector<int32_t> prefix() const;
  std::vector<int32_t> suffix() const;
  bool adds_tokens() const { return !templates_.empty(); }

 private:
  struct Template {
    std::vector<int32_t> before, after;
  };
  void add(const nlohmann::json& j, const std::string& file);
  std::vector<Template> templates_;  // applied in order
};

}  // namespace hqq::hf
