#include "core/text/jinja/context.h"

namespace hqq::jinja {

Value Context::lookup(const std::string& name) const {
  for (size_t i = frames.size(); i-- > base;) {
    auto f = frames[i].find(name);
    if (f != frames[i].end()) return f->second;
  }
  if (base > 0) {
    auto f = frames[0].find(name);
    if (f != frames[0].end()) return f->second;
  }
  return Value();
}

Value* Context::find(const std::string& name) {
  for (size_t i = frames.size(); i-- > base;) {
    auto f = frames[i].find(name);
    if (f != frames[i].end()) return &f->second;
  }
  if (base > 0) {
    auto f = frames[0].find(name);
    if (f != frames[0].end()) return &f->second;
  }
  return nullptr;
}

std::string Context::count(size_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void Context::check_string(size_t bytes, size_t pos) {
  if (bytes > limits.max_string_bytes)
    over(pos, "a string longer than " + count(limits.max_string_bytes) + " bytes");
  built_ += bytes;
  if (built_ > limits.max_built_bytes)
    over(pos, "built more than " + count(limits.max_built_bytes) +
                  " bytes of strings and lists in total (a value grown in a loop?)");
}

void Context::check_list(size_t items, size_t pos) {
  if (items > limits.max_list_items)
    over(pos, "a list of more than " + count(limits.max_list_items) + " items");
  built_ += items * sizeof(Value);
  if (built_ > limits.max_built_bytes)
    over(pos, "built more than " + count(limits.max_built_bytes) +
                  " bytes of strings and lists in total (a value grown in a loop?)");
}

void Context::check_depth_of(const Value& v, size_t pos) {
  if (v.depth() > limits.max_value_depth)
    over(pos, "lists or dicts nested more than " + count(limits.max_value_depth) + " deep");
}

Value Context::make_list(List items, size_t pos) {
  check_list(items.size(), pos);
  Value v = Value::list(std::move(items));
  check_depth_of(v, pos);
  return v;
}

}  // namespace hqq::jinja
