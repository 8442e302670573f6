#pragma once
// tokenizer.json "decoder": ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence.
// Each rewrites the list of token strings (the library's decode_chain); the text is their
// concatenation. Incomplete UTF-8 at the end becomes U+FFFD, which streaming holds back.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hqq::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Throws InputError("<file>: <Type> decoder: not supported") for other kinds.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& file);

}  // namespace hqq::hf
