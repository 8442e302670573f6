// Tokenizer::encode_long: a long text encoded in pieces, with the ids of one whole encode().
//
// A cut falls only at a single space between two non-space characters. Every supported
// pre-tokenization starts a word there (sentencepiece splits at spaces before merging; the
// GPT-2 / Llama 3 / Qwen split regexes have no rule that runs from a non-space across a space;
// Metaspace and ByteLevel words start at the space), so BPE never merges across it. What the
// space becomes in the next piece depends on the kind: sentencepiece and a tokenizer.json with a
// Prepend("▁") normalizer want it dropped (their prefix stands for it), ByteLevel and Metaspace
// want it kept. Rather than list kinds, the tokenizer is asked once on a probe sentence which
// of the two reproduces the whole-text ids.
// The special tokens a post-processor puts around a text (BOS, and EOS or [SEP] for some
// tokenizer.json files) frame the whole text, not each piece: pieces are encoded without them
// and the frame, read off a probe word, is added once.
// Without such a space in reach the piece is cut at a UTF-8 boundary: the one inexact case (a
// 128 kB run without a single space), accepted to keep memory bounded.
#include <algorithm>
#include <cctype>

#include "core/text/tokenizer.h"

namespace hqq {
namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// The length of the next piece of `text` (all of it when short enough) and whether the byte
// after it is a single space where the cut falls.
size_t next_cut(std::string_view text, size_t piece_bytes, bool* at_space) {
  *at_space = false;
  if (text.size() <= piece_bytes) return text.size();
  for (size_t sp = piece_bytes; sp > piece_bytes / 2; --sp) {
    if (text[sp] == ' ' && !is_space(text[sp - 1]) && sp + 1 < text.size() &&
        !is_space(text[sp + 1])) {
      *at_space = true;
      return sp;
    }
  }
  size_t n = piece_bytes;
  while (n > 1 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return n;
}

std::vector<int64_t> joined(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

std::vector<int64_t> Tokenizer::encode_long(std::string_view text, bool add_bos,
                                            const JobContext& job, size_t piece_bytes) const {
  piece_bytes = std::max<size_t>(piece_bytes, 16);
  if (text.size() <= piece_bytes) {
    job.check();
    return encode(text, add_bos);
  }
  std::vector<int64_t> prefix, suffix;
  if (add_bos) {
    const std::vector<int64_t> framed = encode("The", true), bare = encode("The", false);
    const auto at = std::search(framed.begin(), framed.end(), bare.begin(), bare.end());
    if (bare.empty() || at == framed.end()) return encode(text, add_bos);  // no frame to find
    prefix.assign(framed.begin(), at);
    suffix.assign(at + static_cast<std::ptrdiff_t>(bare.size()), framed.end());
  }
  std::vector<int64_t> out = prefix;
  bool drop_space = !hf_;
  const std::vector<int64_t> whole = encode("The quick brown fox"), head = encode("The quick");
  if (joined(head, encode("brown fox")) == whole) {
    drop_space = true;
  } else if (joined(head, encode(" brown fox")) == whole) {
    drop_space = false;
  }
  const int64_t total_kb = static_cast<int64_t>(text.size() / 1024);
  size_t consumed = 0;
  while (!text.empty()) {
    job.check();
    bool at_space = false;
    const size_t n = next_cut(text, piece_bytes, &at_space);
    const std::vector<int64_t> ids = encode(text.substr(0, n), false);
    out.insert(out.end(), ids.begin(), ids.end());
    const size_t step = n + (at_space && drop_space ? 1 : 0);
    text.remove_prefix(step);
    consumed += step;
    job.report({"tokenize", static_cast<int64_t>(consumed / 1024), total_kb, "kB of text"});
  }
  out.insert(out.end(), suffix.begin(), suffix.end());
  return out;
}

}  // namespace hqq
