#pragma once
// tokenizer.json "added_tokens": matched in the text before normalization and pre-tokenization
// (those with normalized: true after normalization, against their normalized form), leftmost
// and longest first, honouring single_word, lstrip and rstrip, as the official library does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hqq::hf {

class Normalizer;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// A stretch of text: either an added token (id >= 0) or text for the pre-tokenizer.
struct Segment {
  std::string text;
  int32_t id = -1;
  bool at_start = false;  // begins at offset 0 of the whole input
};

class AddedTokens {
 public:
  AddedTokens() = default;
  AddedTokens(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text` on the tokens that match before normalization, normalizes the rest and
  // splits that on the normalized ones. With parse_special false, special tokens are text.
  std::vector<Segment> split(std::string_view text, const Normalizer* normalizer,
                             bool parse_special) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(int32_t id) const;
  const AddedToken* find(std::string_view content) const;

 private:
  struct Matcher {
    std::vector<std::string> patterns;  // what is matched (normalized content where asked)
    std::vector<size_t> token;          // index into tokens_
    // Patterns by first byte, longest first: leftmost-longest search.
    std::vector<std::vector<size_t>> by_byte = std::vector<std::vector<size_t>>(256);
    void build();
  };
  void split_with(const Matcher& m, std::string_view text, bool at_start, bool parse_special,
                  std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  Matcher raw_, normalized_;
};

}  // namespace hqq::hf
