#include "core/text/jinja/template.h"

#include <ctime>

#include "core/text/jinja/builtins.h"
#include "core/text/jinja/parser.h"

namespace hqq::jinja {

namespace {
// As Jinja's lexer: newlines become "\n" and one trailing newline goes (keep_trailing_newline is
// off in transformers' environment).
std::string normalize_newlines(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}
}  // namespace

Template::Template(std::string source, std::string source_name, Limits limits)
    : src_(std::make_unique<Source>(Source{std::move(source_name), normalize_newlines(source)})),
      limits_(limits),
      body_(std::make_unique<NodeList>(parse_template(*src_, limits_))) {}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Value& globals, const Clock& clock) const {
  Clock now = clock ? clock : Clock([] {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
  });
  Context c(*src_, limits_, std::move(now));
  for (const auto& f : global_functions()) c.set(f, Value::function(f));
  if (!globals.is_undefined() && !globals.is_dict())
    src_->fail("the render context must be a dict");
  for (const auto& [k, v] : globals.entries()) c.set(k, v);
  std::string out;
  render_all(*body_, c, out);
  return out;
}

}  // namespace hqq::jinja
