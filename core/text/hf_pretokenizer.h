#pragma once
// tokenizer.json "pre_tokenizer": Split, ByteLevel, Metaspace, Digits, Sequence. Each cuts the
// pieces it is given into smaller ones (the words BPE sees); empty pieces are dropped, as the
// official library does.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hqq::hf {

struct PreSplit {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the encoded text (Metaspace "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void split(std::vector<PreSplit>& pieces) const = 0;
  virtual std::string name() const = 0;  // for the model card: "ByteLevel", "Metaspace", ...
};

// Throws InputError("<file>: <Type> pre-tokenizer: not supported") for other kinds.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& file);

}  // namespace hqq::hf
