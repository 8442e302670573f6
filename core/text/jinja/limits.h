#pragma once
// Bounds on the work a template may do. A chat template comes with a downloaded model and is
// untrusted: without these, 8,000 nested parentheses overflow the stack and `range(10**9)` or a
// string doubled in a loop takes gigabytes. Each is far above what published templates need
// (the Llama 3.2 template renders a 2,000-message conversation in 62k steps and 3 ms, nests 5
// deep).
#include <cstddef>

namespace hqq::jinja {

struct Limits {
  size_t max_nesting = 100;            // blocks inside blocks, and expression depth, when parsing
  size_t max_expression_height = 500;  // operators in one chain ("a + b + ..." or "x|f|g|...")
  size_t max_render_depth = 2000;      // statements + expressions active at once while rendering
  size_t max_macro_depth = 50;         // macro calls active at once (recursion)
  size_t max_steps = 1'000'000;        // statements, expressions and loop iterations, in total
  size_t max_output_bytes = 16 << 20;  // the rendered text
  size_t max_string_bytes = 16 << 20;  // any one string value
  size_t max_list_items = 100'000;     // any one list (range(), list literals, filters)
  size_t max_value_depth = 100;        // lists/dicts inside lists/dicts
  size_t max_built_bytes = 256 << 20;  // all strings and lists built, in total: bounds the time
                                       // of quadratic growth (a string appended to in a loop)
};

}  // namespace hqq::jinja
