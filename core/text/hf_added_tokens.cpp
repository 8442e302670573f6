#include "core/text/hf_added_tokens.h"

#include <algorithm>

#include "core/text/hf_normalizer.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

// The library's word tests use Rust's char classes on the neighbouring character.
bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t b = s.size() - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  char32_t c = next_code_point(s, b);
  return is_alphanumeric(c) || c == '_';
}
bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  char32_t c = next_code_point(s, i);
  return is_alphanumeric(c) || c == '_';
}
// Start of the whitespace run that ends s (s.size() when none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    size_t i = b;
    if (!is_whitespace(next_code_point(s, i))) break;
    end = b;
  }
  return end;
}
// Length of the whitespace run that starts s.
size_t leading_space_length(std::string_view s) {
  size_t i = 0, keep = 0;
  while (i < s.size() && is_whitespace(next_code_point(s, i))) keep = i;
  return keep;
}

}  // namespace

void AddedTokens::Matcher::build() {
  for (auto& b : by_byte) b.clear();
  for (size_t k = 0; k < patterns.size(); ++k)
    if (!patterns[k].empty()) by_byte[static_cast<unsigned char>(patterns[k][0])].push_back(k);
  for (auto& b : by_byte)
    std::stable_sort(b.begin(), b.end(), [this](size_t x, size_t y) {
      return patterns[x].size() > patterns[y].size();
    });
}

AddedTokens::AddedTokens(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const auto& t = tokens_[k];
    if (t.normalized) {
      std::string p = t.content;
      if (normalizer) normalizer->normalize(p);
      normalized_.patterns.push_back(std::move(p));
      normalized_.token.push_back(k);
    } else {
      raw_.patterns.push_back(t.content);
      raw_.token.push_back(k);
    }
  }
  raw_.build();
  normalized_.build();
}

const AddedToken* AddedTokens::find(int32_t id) const {
  for (const auto& t : tokens_)
    if (t.id == id) return &t;
  return nullptr;
}

const AddedToken* AddedTokens::find(std::string_view content) const {
  for (const auto& t : tokens_)
    if (t.content == content) return &t;
  return nullptr;
}

void AddedTokens::split_with(const Matcher& m, std::string_view s, bool at_start,
                             bool parse_special, std::vector<Segment>& out) const {
  size_t emitted = 0;  // end of what is already in `out`
  auto text = [&](size_t b, size_t e) {
    if (e > b) out.push_back({std::string(s.substr(b, e - b)), -1, at_start && b == 0});
  };
  size_t pos = 0;
  while (pos < s.size()) {
    const auto& cands = m.by_byte[static_cast<unsigned char>(s[pos])];
    const size_t* hit = nullptr;
    for (const size_t& k : cands)
      if (s.compare(pos, m.patterns[k].size(), m.patterns[k]) == 0) {
        hit = &k;
        break;
      }
    if (!hit) {
      ++pos;
      continue;
    }
    const AddedToken& t = tokens_[m.token[*hit]];
    size_t start = pos, stop = pos + m.patterns[*hit].size();
    pos = stop;  // the search goes on after the match, whether it is used or not
    if (!parse_special && t.special) continue;
    if (t.single_word) {
      bool space_before = start == 0 || !ends_with_word(s.substr(0, start));
      bool space_after = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), emitted);
    if (t.rstrip) stop += leading_space_length(s.substr(stop));
    text(emitted, start);
    out.push_back({std::string(s.substr(start, stop - start)), t.id, at_start && start == 0});
    emitted = stop;
  }
  text(emitted, s.size());
}

std::vector<Segment> AddedTokens::split(std::string_view text, const Normalizer* normalizer,
                                        bool parse_special) const {
  std::vector<Segment> first, out;
  split_with(raw_, text, true, parse_special, first);
  for (auto& seg : first) {
    if (seg.id >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    if (normalizer) normalizer->normalize(seg.text);
    if (normalized_.patterns.empty()) {
      if (!seg.text.empty()) out.push_back(std::move(seg));
    } else {
      split_with(normalized_, seg.text, seg.at_start, parse_special, out);
    }
  }
  return out;
}

}  // namespace hqq::hf
