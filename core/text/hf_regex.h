#pragma once
// The regular expressions of tokenizer.json (Split patterns, ByteLevel's built-in one), run by
// Oniguruma as the official library does, so \p{L}, (?i:...) and (?!\S) match identically.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hqq::hf {

class Regex {
 public:
  // Throws InputError("<where>: bad regex ...") when Oniguruma rejects the pattern.
  Regex(const std::string& pattern, const std::string& where);
  // Every non-overlapping match as [begin, end) byte offsets, left to right; an empty match
  // right after the previous one is skipped (as the Rust onig crate's find_iter does).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> re_;
};

// A tokenizer.json "pattern": {"String": "..."} (literal) or {"Regex": "..."}.
class Pattern {
 public:
  Pattern(const nlohmann::json& j, const std::string& where);
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  // Every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

}  // namespace hqq::hf
