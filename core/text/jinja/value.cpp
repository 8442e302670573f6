#include "core/text/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace hqq::jinja {

namespace {
uint32_t depth_of(const List& items) {
  uint32_t d = 0;
  for (const auto& v : items) d = std::max<uint32_t>(d, static_cast<uint32_t>(v.depth()));
  return d + 1;
}
uint32_t depth_of(const Dict& entries) {
  uint32_t d = 0;
  for (const auto& [k, v] : entries) d = std::max<uint32_t>(d, static_cast<uint32_t>(v.depth()));
  return d + 1;
}
const std::string kEmpty;
const List kNoItems;
const Dict kNoEntries;
}  // namespace

Value::Value(std::string s)
    : kind_(Kind::String), p_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  v.depth_ = depth_of(items);
  v.p_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::dict(Dict entries) {
  Value v;
  v.kind_ = Kind::Dict;
  v.depth_ = depth_of(entries);
  v.p_ = std::make_shared<const Dict>(std::move(entries));
  return v;
}

Value Value::make_namespace(Dict entries) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.depth_ = 1;
  v.p_ = std::make_shared<Dict>(std::move(entries));
  return v;
}

Value Value::function(std::string name) {
  Value v(std::move(name));
  v.kind_ = Kind::Function;
  return v;
}

Value Value::macro(std::shared_ptr<const MacroNode> m) {
  Value v;
  v.kind_ = Kind::Macro;
  v.p_ = std::move(m);
  return v;
}

const std::string& Value::str() const {
  return kind_ == Kind::String || kind_ == Kind::Function
             ? *static_cast<const std::string*>(p_.get())
             : kEmpty;
}
const List& Value::items() const {
  return kind_ == Kind::List ? *static_cast<const List*>(p_.get()) : kNoItems;
}
const Dict& Value::entries() const {
  return is_mapping() ? *static_cast<const Dict*>(p_.get()) : kNoEntries;
}
Dict& Value::namespace_entries() const {
  return *static_cast<Dict*>(const_cast<void*>(p_.get()));
}
const MacroNode& Value::macro_node() const {
  return *static_cast<const MacroNode*>(p_.get());
}

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : entries())
    if (k == key) return &v;
  return nullptr;
}

size_t Value::size() const {
  if (is_string()) return str().size();
  if (is_list()) return items().size();
  if (is_mapping()) return entries().size();
  return 0;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "undefined";
    case Kind::None:
      return "none";
    case Kind::Bool:
      return "boolean";
    case Kind::Int:
      return "integer";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "string";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "namespace";
    case Kind::Function:
      return "function";
    case Kind::Macro:
      return "macro";
  }
  return "value";
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return false;
    case Value::Kind::Bool:
    case Value::Kind::Int:
      return v.as_int() != 0;
    case Value::Kind::Float:
      return v.as_double() != 0.0;
    case Value::Kind::String:
    case Value::Kind::List:
    case Value::Kind::Dict:
      return v.size() != 0;
    default:
      return true;
  }
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return true;
    case Value::Kind::String:
    case Value::Kind::Function:
      return a.str() == b.str();
    case Value::Kind::List: {
      const auto &x = a.items(), &y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equal(x[i], y[i])) return false;
      return true;
    }
    case Value::Kind::Dict: {  // order does not matter for Python dict equality
      if (a.size() != b.size()) return false;
      for (const auto& [k, v] : a.entries()) {
        const Value* o = b.find(k);
        if (!o || !equal(v, *o)) return false;
      }
      return true;
    }
    default:
      return a.entries().data() == b.entries().data() && &a.macro_node() == &b.macro_node();
  }
}

std::string float_text(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  double mag = std::fabs(d);
  bool sci = mag != 0.0 && (mag < 1e-4 || mag >= 1e16);
  auto r = std::to_chars(buf, buf + sizeof buf, d,
                         sci ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (!sci && s.find('.') == std::string::npos) s += ".0";
  return s;
}

namespace {

std::string string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == q)
      out += std::string("\\") + static_cast<char>(c);
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + q;
}

void append_json_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

std::string repr(const Value& v) {
  if (v.is_string()) return string_repr(v.str());
  return to_text(v);
}

std::string to_text(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return "";
    case Value::Kind::None:
      return "None";
    case Value::Kind::Bool:
      return v.as_bool() ? "True" : "False";
    case Value::Kind::Int:
      return std::to_string(v.as_int());
    case Value::Kind::Float:
      return float_text(v.as_double());
    case Value::Kind::String:
      return v.str();
    case Value::Kind::List: {
      std::string out = "[";
      for (size_t i = 0; i < v.items().size(); ++i) out += (i ? ", " : "") + repr(v.items()[i]);
      return out + "]";
    }
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      std::string out = v.is_namespace() ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, e] : v.entries()) {
        out += (first ? "" : ", ") + string_repr(k) + ": " + repr(e);
        first = false;
      }
      return out + (v.is_namespace() ? "}>" : "}");
    }
    case Value::Kind::Function:
      return "<built-in function " + v.str() + ">";
    case Value::Kind::Macro:
      return "<Macro>";
  }
  return "";
}

bool to_json_text(const Value& v, const JsonStyle& style, std::string& out, size_t level) {
  auto newline = [&](size_t lvl) {
    if (style.indent < 0) return;
    out += '\n';
    out.append(lvl * static_cast<size_t>(style.indent), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::None:
      out += "null";
      return true;
    case Value::Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return true;
    case Value::Kind::Int:
      out += std::to_string(v.as_int());
      return true;
    case Value::Kind::Float: {
      double d = v.as_double();
      out += std::isnan(d)   ? "NaN"
             : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                             : float_text(d);
      return true;
    }
    case Value::Kind::String:
      append_json_string(v.str(), out);
      return true;
    case Value::Kind::List: {
      if (v.items().empty()) return out += "[]", true;
      out += '[';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += style.item_sep;
        newline(level + 1);
        if (!to_json_text(v.items()[i], style, out, level + 1)) return false;
      }
      newline(level);
      out += ']';
      return true;
    }
    case Value::Kind::Dict: {
      if (v.entries().empty()) return out += "{}", true;
      std::vector<const std::pair<std::string, Value>*> order;
      for (const auto& e : v.entries()) order.push_back(&e);
      if (style.sort_keys)
        std::stable_sort(order.begin(), order.end(),
                         [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < order.size(); ++i) {
        if (i) out += style.item_sep;
        newline(level + 1);
        append_json_string(order[i]->first, out);
        out += style.key_sep;
        if (!to_json_text(order[i]->second, style, out, level + 1)) return false;
      }
      newline(level);
      out += '}';
      return true;
    }
    default:
      return false;
  }
}

}  // namespace hqq::jinja
