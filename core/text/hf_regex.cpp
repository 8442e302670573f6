#include "core/text/hf_regex.h"

#include <oniguruma.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {

struct Regex::Compiled {
  OnigRegex reg = nullptr;
  ~Compiled() {
    if (reg) onig_free(reg);
  }
};

Regex::Regex(const std::string& pattern, const std::string& where) {
  static std::once_flag init;  // Oniguruma wants its encodings registered once per process
  std::call_once(init, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
  auto c = std::make_shared<Compiled>();
  OnigErrorInfo info;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  int rc = onig_new(&c->reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                    ONIG_SYNTAX_DEFAULT, &info);
  if (rc != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &info);
    fail_input(where, "bad regex '" + pattern + "': " + reinterpret_cast<const char*>(msg));
  }
  re_ = std::move(c);
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  OnigRegion region;
  onig_region_init(&region);
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= text.size()) {
    int r = onig_search(re_->reg, str, end, str + pos, end, &region, ONIG_OPTION_NONE);
    if (r < 0) break;  // ONIG_MISMATCH, or an error: no further match either way
    const auto s = static_cast<size_t>(region.beg[0]);
    const auto e = static_cast<size_t>(region.end[0]);
    if (s == e && have_last && last_end == e) {
      pos += pos < text.size() ? utf8_length(static_cast<unsigned char>(text[pos])) : 1;
      continue;
    }
    pos = e;
    have_last = true;
    last_end = e;
    out.emplace_back(s, e);
    if (s == e && pos >= text.size()) break;
  }
  onig_region_free(&region, 0);
}

Pattern::Pattern(const nlohmann::json& j, const std::string& where) {
  if (j.is_object() && j.contains("String") && j["String"].is_string()) {
    literal_ = j["String"].get<std::string>();
    if (literal_.empty()) fail_input(where, "empty String pattern");
  } else if (j.is_object() && j.contains("Regex") && j["Regex"].is_string()) {
    regex_ = std::make_shared<const Regex>(j["Regex"].get<std::string>(), where);
  } else {
    fail_input(where, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
  }
}

void Pattern::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  if (regex_) return regex_->find_all(text, out);
  for (size_t at = text.find(literal_); at != std::string_view::npos;
       at = text.find(literal_, at + literal_.size()))
    out.emplace_back(at, at + literal_.size());
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  std::vector<std::pair<size_t, size_t>> m;
  find_all(text, m);
  if (m.empty()) return std::string(text);
  std::string out;
  size_t prev = 0;
  for (auto [b, e] : m) {
    out.append(text.substr(prev, b - prev));
    out.append(content);
    prev = e;
  }
  out.append(text.substr(prev));
  return out;
}

}  // namespace hqq::hf
