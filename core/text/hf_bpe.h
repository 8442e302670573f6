#pragma once
// The BPE model of tokenizer.json: a vocabulary and ranked merges, applied to each word the
// pre-tokenizer made exactly as the official library does (lowest rank first, leftmost on
// ties), with byte_fallback, unk_token (fuse_unk), continuing_subword_prefix,
// end_of_word_suffix and ignore_merges. A per-word cache makes repeated words one lookup.
// Without a pre-tokenizer (Mixtral's Metaspace form) a whole paragraph is one word: it is cut
// before each "\u2581" that follows another character when the vocabulary proves that no merge
// can cross such a cut, so the pieces are words again (cached, short) with the same ids.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hqq::hf {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

class Bpe {
 public:
  // Throws InputError naming `file` when a merge refers to a piece the vocabulary lacks.
  Bpe(std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
      const std::string& file);
  Bpe(const Bpe&) = delete;
  Bpe& operator=(const Bpe&) = delete;

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr for ids it does not have
  int64_t size() const { return static_cast<int64_t>(id_to_token_.size()); }
  size_t merge_count() const { return merges_.size(); }

 private:
  void tokenize_cached(std::string_view word, std::vector<int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  StringMap<int32_t> vocab_;
  std::vector<std::string> id_to_token_;  // indexed by id; empty where the vocabulary has a gap
  std::vector<bool> has_id_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (a,b) -> (rank, id)
  BpeOptions opt_;
  bool split_at_metaspace_ = false;      // see the comment at the top
  std::array<int32_t, 256> byte_ids_{};  // <0xXX> pieces for byte_fallback; -1 where missing
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace hqq::hf
