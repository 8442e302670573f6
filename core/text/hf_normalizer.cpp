#include "core/text/hf_normalizer.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "core/base/error.h"
#include "core/text/hf_regex.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

class UnicodeForm : public Normalizer {
 public:
  UnicodeForm(const std::string& form, const std::string& file) {
    UErrorCode st = U_ZERO_ERROR;
    if (form == "NFC") n_ = icu::Normalizer2::getNFCInstance(st);
    if (form == "NFD") n_ = icu::Normalizer2::getNFDInstance(st);
    if (form == "NFKC") n_ = icu::Normalizer2::getNFKCInstance(st);
    if (form == "NFKD") n_ = icu::Normalizer2::getNFKDInstance(st);
    if (U_FAILURE(st) || !n_) fail_input(file, form + " normalizer: ICU has no data for it");
  }
  void normalize(std::string& s) const override {
    bool ascii = true;  // ASCII is invariant under every normalization form: skip ICU
    for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
    if (ascii) return;
    UErrorCode st = U_ZERO_ERROR;
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
    if (n_->isNormalized(u, st) && U_SUCCESS(st)) return;
    st = U_ZERO_ERROR;
    icu::UnicodeString out = n_->normalize(u, st);
    if (U_FAILURE(st)) throw Error(std::string("ICU normalization failed: ") + u_errorName(st));
    s.clear();
    out.toUTF8String(s);
  }

 private:
  const icu::Normalizer2* n_ = nullptr;  // owned by ICU
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, p_);
  }

 private:
  std::string p_;
};

class Replace : public Normalizer {
 public:
  Replace(const nlohmann::json& j, const std::string& file)
      : pattern_(j.at("pattern"), file + ": Replace normalizer"),
        content_(j.at("content").get<std::string>()) {}
  void normalize(std::string& s) const override { s = pattern_.replace_all(s, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    if (right_) {
      size_t end = s.size();
      while (end > 0) {
        size_t b = end - 1;
        while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
        size_t i = b;
        if (!is_whitespace(next_code_point(s, i))) break;
        end = b;
      }
      s.resize(end);
    }
    if (left_) {
      size_t i = 0, keep = 0;
      while (i < s.size() && is_whitespace(next_code_point(s, i))) keep = i;
      s.erase(0, keep);
    }
  }

 private:
  bool left_, right_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  try {
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD")
      return std::make_unique<UnicodeForm>(type, file);
    if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
    if (type == "Replace") return std::make_unique<Replace>(j, file);
    if (type == "Strip")
      return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
    if (type == "Sequence") {
      std::vector<std::unique_ptr<Normalizer>> parts;
      for (const auto& e : j.at("normalizers"))
        if (auto n = make_normalizer(e, file)) parts.push_back(std::move(n));
      return std::make_unique<Sequence>(std::move(parts));
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input(file, type + " normalizer: " + e.what());
  }
  fail_input(file, (type.empty() ? std::string("untyped") : type) + " normalizer: not supported");
}

}  // namespace hqq::hf
