#pragma once
// Where a template came from, and the one way the engine reports a problem with it:
// "FILE: chat template line L, column C: PROBLEM", FILE being tokenizer_config.json or
// chat_template.jinja, so that a user knows which file to fix.
#include <cstddef>
#include <string>

#include "core/base/error.h"

namespace hqq {

// A template that cannot be parsed, that failed while rendering (including raise_exception), or
// that went over one of the engine's limits.
class TemplateError : public InputError {
 public:
  using InputError::InputError;
};

namespace jinja {

struct Source {
  std::string name;  // the file the template was read from, or a description
  std::string text;

  // Line and column (both from 1) of a byte offset.
  std::pair<size_t, size_t> line_column(size_t pos) const;
  [[noreturn]] void fail(size_t pos, const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;  // no position known
};

}  // namespace jinja
}  // namespace hqq
