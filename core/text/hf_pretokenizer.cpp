#include "core/text/hf_pretokenizer.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/base/error.h"
#include "core/text/hf_regex.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& b, const std::string& where) {
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  fail_input(where, "split behavior '" + b + "': not supported");
}

// NormalizedString::split of the official library: the matches and the gaps between them
// cover the text; the behaviour decides what becomes a piece.
void split_by(const PreSplit& in, const Spans& matches, Behavior behavior, bool invert,
              std::vector<PreSplit>& out) {
  const std::string& s = in.text;
  struct Part {
    size_t b, e;
    bool match;
  };
  std::vector<Part> parts;
  if (s.empty()) {
    parts.push_back({0, 0, false});
  } else {
    size_t prev = 0;
    for (auto [b, e] : matches) {
      if (prev != b) parts.push_back({prev, b, false});
      parts.push_back({b, e, true});
      prev = e;
    }
    if (prev != s.size()) parts.push_back({prev, s.size(), false});
  }
  if (invert)
    for (auto& p : parts) p.match = !p.match;
  std::vector<Part> keep;  // .match now means "remove"
  bool previous = false;
  switch (behavior) {
    case Behavior::Isolated:
      for (auto p : parts) keep.push_back({p.b, p.e, false});
      break;
    case Behavior::Removed:
      keep = parts;
      break;
    case Behavior::Contiguous:
      for (auto p : parts) {
        if (p.match == previous && !keep.empty())
          keep.back().e = p.e;
        else
          keep.push_back({p.b, p.e, false});
        previous = p.match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (auto p : parts) {
        if (p.match && !previous && !keep.empty())
          keep.back().e = p.e;
        else
          keep.push_back({p.b, p.e, false});
        previous = p.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous && !keep.empty())
          keep.back().b = it->b;
        else
          keep.push_back({it->b, it->e, false});
        previous = it->match;
      }
      std::reverse(keep.begin(), keep.end());
      break;
  }
  for (const auto& p : keep)
    if (!p.match && p.e > p.b) out.push_back({s.substr(p.b, p.e - p.b), in.at_start && p.b == 0});
}

class Split : public PreTokenizer {
 public:
  Split(const nlohmann::json& j, const std::string& file)
      : pattern_(j.at("pattern"), file + ": Split pre-tokenizer"),
        behavior_(parse_behavior(j.at("behavior").get<std::string>(), file)),
        invert_(j.value("invert", false)) {}
  void split(std::vector<PreSplit>& pieces) const override {
    std::vector<PreSplit> out;
    out.reserve(pieces.size() * 4);
    Spans m;
    for (const auto& p : pieces) {
      m.clear();
      pattern_.find_all(p.text, m);
      split_by(p, m, behavior_, invert_, out);
    }
    pieces = std::move(out);
  }
  std::string name() const override { return "Split"; }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's pattern, built into the ByteLevel pre-tokenizer.
constexpr const char* kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(const nlohmann::json& j, const std::string& file)
      : add_prefix_space_(j.value("add_prefix_space", true)),
        use_regex_(j.value("use_regex", true)) {
    if (use_regex_) regex_ = std::make_unique<Regex>(kByteLevelPattern, file);
  }
  void split(std::vector<PreSplit>& pieces) const override {
    std::vector<PreSplit> cut;
    if (add_prefix_space_)
      for (auto& p : pieces)
        if (!p.text.empty() && p.text[0] != ' ') p.text.insert(p.text.begin(), ' ');
    if (use_regex_) {
      cut.reserve(pieces.size() * 4);
      Spans m;
      for (const auto& p : pieces) {
        m.clear();
        regex_->find_all(p.text, m);
        split_by(p, m, Behavior::Isolated, false, cut);
      }
      pieces = std::move(cut);
    }
    // Every byte becomes its printable stand-in (the alphabet of the vocabulary).
    const auto& a = byte_level_alphabet();
    for (auto& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (char c : p.text) mapped += a.byte_to_char[static_cast<unsigned char>(c)];
      p.text = std::move(mapped);
    }
  }
  std::string name() const override { return "ByteLevel"; }

 private:
  bool add_prefix_space_, use_regex_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace : public PreTokenizer {
 public:
  Metaspace(const nlohmann::json& j, const std::string& file)
      : replacement_(j.value("replacement", std::string("\xE2\x96\x81"))),
        split_(j.value("split", true)) {
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      fail_input(file, "Metaspace prepend_scheme '" + scheme + "': not supported");
    scheme_ = scheme;
  }
  void split(std::vector<PreSplit>& pieces) const override {
    std::vector<PreSplit> out;
    Spans m;
    for (auto& p : pieces) {
      std::string t;
      t.reserve(p.text.size() + 8);
      for (char c : p.text) c == ' ' ? t += replacement_ : t += c;
      const bool starts = t.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == "always" || (scheme_ == "first" && p.at_start)))
        t.insert(0, replacement_);
      p.text = std::move(t);
      if (!split_) {
        if (!p.text.empty()) out.push_back(std::move(p));
        continue;
      }
      m.clear();
      for (size_t at = p.text.find(replacement_); at != std::string::npos;
           at = p.text.find(replacement_, at + replacement_.size()))
        m.emplace_back(at, at + replacement_.size());
      split_by(p, m, Behavior::MergedWithNext, false, out);
    }
    pieces = std::move(out);
  }
  std::string name() const override { return "Metaspace"; }

 private:
  std::string replacement_;
  std::string scheme_;
  bool split_;
};

class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void split(std::vector<PreSplit>& pieces) const override {
    std::vector<PreSplit> out;
    Spans m;
    for (const auto& p : pieces) {
      m.clear();
      for (size_t i = 0; i < p.text.size();) {
        size_t b = i;
        if (is_numeric(next_code_point(p.text, i))) m.emplace_back(b, i);
      }
      split_by(p, m, individual_ ? Behavior::Isolated : Behavior::Contiguous, false, out);
    }
    pieces = std::move(out);
  }
  std::string name() const override { return "Digits"; }

 private:
  bool individual_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void split(std::vector<PreSplit>& pieces) const override {
    for (const auto& p : parts_) p->split(pieces);
  }
  std::string name() const override {
    // The model card names the one that decides the alphabet, else the first.
    for (const auto& p : parts_)
      if (p->name() == "ByteLevel" || p->name() == "Metaspace") return p->name();
    return parts_.empty() ? "Sequence" : parts_.front()->name();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  try {
    if (type == "Split") return std::make_unique<Split>(j, file);
    if (type == "ByteLevel") return std::make_unique<ByteLevel>(j, file);
    if (type == "Metaspace") return std::make_unique<Metaspace>(j, file);
    if (type == "Digits") return std::make_unique<Digits>(j.value("individual_digits", false));
    if (type == "Sequence") {
      std::vector<std::unique_ptr<PreTokenizer>> parts;
      for (const auto& e : j.at("pretokenizers"))
        if (auto p = make_pre_tokenizer(e, file)) parts.push_back(std::move(p));
      return std::make_unique<Sequence>(std::move(parts));
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input(file, type + " pre-tokenizer: " + e.what());
  }
  fail_input(file,
             (type.empty() ? std::string("untyped") : type) + " pre-tokenizer: not supported");
}

}  // namespace hqq::hf
