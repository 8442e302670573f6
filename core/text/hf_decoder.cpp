#include "core/text/hf_decoder.h"

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/text/hf_regex.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

const std::string kReplacementChar = "\xEF\xBF\xBD";

// Printable stand-ins back to bytes; a token with any other character is kept as it is
// (added tokens such as "<|im_start|>" pass through).
class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    const auto& a = byte_level_alphabet();
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        char32_t c = next_code_point(t, i);
        ok = c < a.char_to_byte.size() && a.char_to_byte[c] >= 0;
        if (ok) mapped += static_cast<char>(a.char_to_byte[c]);
      }
      bytes += ok ? mapped : t;
    }
    tokens.assign(1, from_utf8_lossy(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool prepend)
      : replacement_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t p = 0; p < t.size();) {
        if (t.compare(p, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && prepend_)) out += ' ';
          p += replacement_.size();
        } else {
          out += t[p++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool prepend_;
};

// Runs of <0xXX> tokens become the bytes they stand for, or one U+FFFD per byte when those
// bytes are not valid UTF-8.
class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_n = 0;
    auto flush = [&] {
      if (pending_n == 0) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending_n; ++k) out.push_back(kReplacementChar);
      }
      pending.clear();
      pending_n = 0;
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        char* end = nullptr;
        std::string hex = t.substr(3, 2);
        long v = std::strtol(hex.c_str(), &end, 16);
        if (end == hex.c_str() + 2 && std::isxdigit(static_cast<unsigned char>(hex[0])))
          byte = int(v);
      }
      if (byte >= 0) {
        pending += static_cast<char>(byte);
        ++pending_n;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const size_t n = content_.size();
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && b + n <= e && t.compare(b, n, content_) == 0; ++k) b += n;
      for (size_t k = 0; k < stop_ && e >= b + n && t.compare(e - n, n, content_) == 0; ++k) e -= n;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(const nlohmann::json& j, const std::string& file)
      : pattern_(j.at("pattern"), file + ": Replace decoder"),
        content_(j.at("content").get<std::string>()) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  try {
    if (type == "ByteLevel") return std::make_unique<ByteLevel>();
    if (type == "Metaspace") {
      std::string scheme = j.value("prepend_scheme", std::string());
      if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
      return std::make_unique<Metaspace>(j.value("replacement", std::string("\xE2\x96\x81")),
                                         scheme != "never");
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallback>();
    if (type == "Fuse") return std::make_unique<Fuse>();
    if (type == "Strip")
      return std::make_unique<Strip>(j.at("content").get<std::string>(),
                                     j.value("start", size_t{0}), j.value("stop", size_t{0}));
    if (type == "Replace") return std::make_unique<Replace>(j, file);
    if (type == "Sequence") {
      std::vector<std::unique_ptr<Decoder>> parts;
      for (const auto& e : j.at("decoders"))
        if (auto d = make_decoder(e, file)) parts.push_back(std::move(d));
      return std::make_unique<Sequence>(std::move(parts));
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input(file, type + " decoder: " + e.what());
  }
  fail_input(file, (type.empty() ? std::string("untyped") : type) + " decoder: not supported");
}

}  // namespace hqq::hf
