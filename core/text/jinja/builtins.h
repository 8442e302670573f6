#pragma once
// The built-ins a chat template can reach: filters (x|trim), tests (x is defined), methods of
// strings and dicts (x.strip(), d.items()) and global functions (range, namespace,
// raise_exception, strftime_now), with Python's results.
#include <string>
#include <vector>

#include "core/text/jinja/ast.h"

namespace hqq::jinja {

Value apply_filter(const std::string& name, const Value& v, const CallArgs& a, Context& c,
                   size_t pos);
bool apply_test(const std::string& name, const Value& v, const CallArgs& a, Context& c, size_t pos);
Value call_method(const Value& obj, const std::string& name, const CallArgs& a, Context& c,
                  size_t pos);
Value call_function(const std::string& name, const CallArgs& a, Context& c, size_t pos);
// The names call_function knows, bound in the globals so that `strftime_now is defined` holds.
const std::vector<std::string>& global_functions();

// obj[key] / obj.key with Jinja's lookup: undefined when absent.
Value get_item(const Value& obj, const Value& key);
// Python str.strip(chars) family; chars null means whitespace.
std::string strip_chars(const std::string& v, const std::string* chars, bool left, bool right);
// Number of code points in UTF-8 text (Python's len of a str).
size_t utf8_length(const std::string& s);
// The code points of UTF-8 text, each as its bytes: Python indexes, slices and iterates strings
// by code point.
std::vector<std::string> utf8_chars(const std::string& s);

}  // namespace hqq::jinja
