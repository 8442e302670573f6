#include "core/text/hf_bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <queue>

#include "core/base/error.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

constexpr size_t kCacheEntries = 200'000;  // then it starts over: bounded memory
constexpr size_t kCacheMaxWord = 256;      // longer words are rare and not worth keeping
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Whether s holds a U+2581 right after a character other than U+2581 ("a\u2581", not
// "\u2581\u2581"). UTF-8 is self-synchronising: the three bytes before a match are a U+2581
// exactly when they spell one.
bool metaspace_after_other(std::string_view s, size_t p) {
  return p > 0 && (p < kMetaspace.size() ||
                   s.compare(p - kMetaspace.size(), kMetaspace.size(), kMetaspace) != 0);
}
bool has_inner_metaspace(std::string_view s) {
  for (size_t p = s.find(kMetaspace); p != std::string_view::npos;
       p = s.find(kMetaspace, p + kMetaspace.size()))
    if (metaspace_after_other(s, p)) return true;
  return false;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Symbol {
  int32_t id;
  int32_t prev, next;
  int32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
};

struct Candidate {
  int32_t rank, pos, new_id;
  bool operator<(const Candidate& o) const {  // priority_queue pops the lowest rank, then pos
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

}  // namespace

Bpe::Bpe(std::vector<std::pair<std::string, int32_t>> vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
         const std::string& file)
    : opt_(std::move(options)) {
  vocab_.reserve(vocab.size() * 2);
  int32_t max_id = -1;
  for (const auto& [piece, id] : vocab) max_id = std::max(max_id, id);
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  has_id_.assign(static_cast<size_t>(max_id + 1), false);
  for (auto& [piece, id] : vocab) {
    if (id < 0) fail_input(file, "BPE model: negative id for '" + piece + "'");
    id_to_token_[static_cast<size_t>(id)] = piece;
    has_id_[static_cast<size_t>(id)] = true;
    vocab_[std::move(piece)] = id;
  }
  merges_.reserve(merges.size() * 2);
  const size_t prefix = opt_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end())
      fail_input(file, "BPE model: merge " + std::to_string(rank) + " ('" + a + "' '" + b +
                           "') uses a piece missing from the vocabulary");
    std::string joined = a + (b.size() >= prefix ? b.substr(prefix) : b);
    auto in = vocab_.find(joined);
    if (in == vocab_.end())
      fail_input(file, "BPE model: merge " + std::to_string(rank) + " makes '" + joined +
                           "', which the vocabulary lacks");
    // A repeated pair keeps its last rank, as the library's map does.
    merges_[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(rank), in->second};
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[static_cast<size_t>(b)] = it == vocab_.end() ? -1 : it->second;
  }
  if (opt_.unk_token && !vocab_.count(*opt_.unk_token))
    fail_input(file, "BPE model: unk_token '" + *opt_.unk_token + "' is not in the vocabulary");
  // A merge across a cut before such a U+2581 would make a piece holding "x\u2581" (the left
  // symbol ends with the token of a character other than U+2581: itself, <0xNN> or the unk
  // piece), which no merge makes when the vocabulary has none. U+2581 must be a piece itself so
  // that it never joins an unknown run (fuse_unk) across the cut, and the prefix/suffix options
  // and ignore_merges depend on where a word starts and ends, so they rule the cut out.
  split_at_metaspace_ = opt_.continuing_subword_prefix.empty() && opt_.end_of_word_suffix.empty() &&
                        !opt_.ignore_merges && vocab_.count(kMetaspace) &&
                        std::none_of(id_to_token_.begin(), id_to_token_.end(),
                                     [](const std::string& t) { return has_inner_metaspace(t); });
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_id_[static_cast<size_t>(id)])
    return nullptr;
  return &id_to_token_[static_cast<size_t>(id)];
}

void Bpe::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (opt_.ignore_merges)
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  if (!split_at_metaspace_) return tokenize_cached(word, out);
  size_t begin = 0;
  for (size_t p = word.find(kMetaspace, 1); p != std::string_view::npos;
       p = word.find(kMetaspace, p + kMetaspace.size())) {
    if (!metaspace_after_other(word, p)) continue;  // a run of U+2581 stays in one piece
    tokenize_cached(word.substr(begin, p - begin), out);
    begin = p;
  }
  tokenize_cached(word.substr(begin), out);
}

void Bpe::tokenize_cached(std::string_view word, std::vector<int32_t>& out) const {
  const bool cacheable = word.size() <= kCacheMaxWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(
        std::string(word),
        std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
  }
}

void Bpe::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(w.size());
  auto add = [&sym](int32_t id, int32_t len) {
    const auto n = static_cast<int32_t>(sym.size());
    if (!sym.empty()) sym.back().next = n;
    sym.push_back({id, n - 1, -1, len});
  };
  int32_t unk_len = -1;  // bytes of a pending unknown piece (-1: none)
  const int32_t unk_id = opt_.unk_token ? vocab_.find(*opt_.unk_token)->second : -1;
  std::string piece;
  for (size_t i = 0; i < w.size();) {
    const size_t b = i;
    i = std::min(w.size(), i + utf8_length(static_cast<unsigned char>(w[i])));
    const auto len = static_cast<int32_t>(i - b);
    piece.clear();
    if (b > 0) piece += opt_.continuing_subword_prefix;
    piece.append(w.substr(b, i - b));
    if (i == w.size()) piece += opt_.end_of_word_suffix;
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      if (unk_len >= 0) add(unk_id, unk_len), unk_len = -1;
      add(it->second, len);
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (char c : piece) all &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : piece) add(byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id >= 0) {
      if (unk_len >= 0 && opt_.fuse_unk) {
        unk_len += len;
      } else {
        if (unk_len >= 0) add(unk_id, unk_len);
        unk_len = len;
      }
    }
  }
  if (unk_len >= 0) add(unk_id, unk_len);

  std::priority_queue<Candidate> queue;
  auto push_pair = [&](int32_t pos) {
    const int32_t next = sym[static_cast<size_t>(pos)].next;
    if (next < 0) return;
    auto it =
        merges_.find(pair_key(sym[static_cast<size_t>(pos)].id, sym[static_cast<size_t>(next)].id));
    if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(sym.size()); ++p) push_pair(p);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& s = sym[static_cast<size_t>(top.pos)];
    if (s.len == 0 || s.next < 0) continue;
    const Symbol right = sym[static_cast<size_t>(s.next)];
    auto it = merges_.find(pair_key(s.id, right.id));
    if (it == merges_.end() || it->second.second != top.new_id) continue;  // a stale entry
    const int32_t right_pos = s.next;
    s.id = top.new_id;
    s.len += right.len;
    s.next = right.next;
    sym[static_cast<size_t>(right_pos)].len = 0;  // merged away
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = top.pos;
    if (s.prev >= 0) push_pair(s.prev);
    push_pair(top.pos);
  }
  for (const auto& s : sym)
    if (s.len != 0) out.push_back(s.id);
}

}  // namespace hqq::hf
