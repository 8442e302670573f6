#pragma once
// Template source -> statement tree. Expressions follow Jinja's own precedence; nesting (blocks
// in blocks, parentheses in parentheses) is held to Limits::max_nesting so that no input can
// exhaust the stack.
#include "core/text/jinja/ast.h"
#include "core/text/jinja/limits.h"

namespace hqq::jinja {

// Throws TemplateError naming the source, line and column.
NodeList parse_template(const Source& src, const Limits& limits);

}  // namespace hqq::jinja
