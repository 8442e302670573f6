#pragma once
// tokenizer.json "normalizer": NFC, NFD, NFKC, NFKD (ICU), Prepend, Replace, Strip, Sequence.
// Applied to each stretch of text between added tokens, before the pre-tokenizer.
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace hqq::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;
};

// Throws InputError("<file>: <Type> normalizer: not supported") for other kinds.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& file);

}  // namespace hqq::hf
