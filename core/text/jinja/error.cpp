#include "core/text/jinja/error.h"

#include <algorithm>

namespace hqq::jinja {

std::pair<size_t, size_t> Source::line_column(size_t pos) const {
  pos = std::min(pos, text.size());
  size_t line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n');
  size_t nl = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
  size_t col = pos - (nl == std::string::npos ? 0 : nl + 1) + 1;
  return {line, col};
}

void Source::fail(size_t pos, const std::string& what) const {
  auto [line, col] = line_column(pos);
  throw TemplateError(name + ": chat template line " + std::to_string(line) + ", column " +
                      std::to_string(col) + ": " + what);
}

void Source::fail(const std::string& what) const {
  throw TemplateError(name + ": chat template: " + what);
}

}  // namespace hqq::jinja
