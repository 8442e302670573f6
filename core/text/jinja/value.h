#pragma once
// Values of the template language, with Python's semantics where output depends on them
// (str() of numbers and containers, truthiness, equality, json.dumps as transformers' tojson).
// Strings, lists and dicts are immutable and shared, so copying a value is O(1); a namespace()
// is the one mutable object and is shared by reference, as in Jinja. Dicts keep insertion order
// (tojson of a tool definition must match Python's output key for key).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hqq::jinja {

struct MacroNode;
class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Kind : uint8_t {
    Undefined,
    None,
    Bool,
    Int,
    Float,
    String,
    List,
    Dict,
    Namespace,
    Function,
    Macro
  };

  Value() = default;  // undefined
  Value(bool b) : kind_(Kind::Bool), i_(b) {}
  Value(int v) : kind_(Kind::Int), i_(v) {}
  Value(int64_t v) : kind_(Kind::Int), i_(v) {}
  Value(size_t v) : kind_(Kind::Int), i_(static_cast<int64_t>(v)) {}
  Value(double v) : kind_(Kind::Float), f_(v) {}
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value none();
  static Value list(List items);
  static Value dict(Dict entries);
  static Value make_namespace(Dict entries);
  static Value function(std::string name);  // a built-in global (range, namespace, ...)
  static Value macro(std::shared_ptr<const MacroNode> m);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || is_bool(); }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_mapping() const { return is_dict() || is_namespace(); }
  bool is_callable() const { return kind_ == Kind::Function || kind_ == Kind::Macro; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return is_float() ? static_cast<int64_t>(f_) : i_; }
  double as_double() const { return is_float() ? f_ : static_cast<double>(i_); }
  const std::string& str() const;  // strings and function names
  const List& items() const;       // lists
  const Dict& entries() const;     // dicts and namespaces
  Dict& namespace_entries() const;
  const MacroNode& macro_node() const;
  size_t depth() const { return depth_; }  // container nesting (0 for scalars)

  // Dict/namespace member, or nullptr.
  const Value* find(std::string_view key) const;
  // Python len() of strings, lists and mappings; 0 otherwise.
  size_t size() const;

  const char* type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  uint32_t depth_ = 0;
  union {
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<const void> p_;  // std::string, List, Dict or MacroNode
};

bool truthy(const Value& v);
bool equal(const Value& a, const Value& b);
// Python str(): what {{ v }} prints ("" for undefined, "None", "True", "1.0", "['a', 1]").
std::string to_text(const Value& v);
// Python repr(), as str() shows items inside lists and dicts.
std::string repr(const Value& v);
// Python float.__repr__: shortest round-trip digits, "1.0", "1e-05", "1e+16".
std::string float_text(double d);

struct JsonStyle {
  int indent = -1;  // -1: one line
  std::string item_sep, key_sep;
  bool sort_keys = false;
};
// json.dumps(v, ensure_ascii=False, ...). Returns false for values JSON cannot hold
// (undefined, namespaces, macros), leaving `out` partial.
bool to_json_text(const Value& v, const JsonStyle& style, std::string& out, size_t level = 0);

// From nlohmann::json or ordered_json (the latter keeps key order).
template <typename J>
Value from_json(const J& j) {
  if (j.is_null()) return Value::none();
  if (j.is_boolean()) return Value(j.template get<bool>());
  if (j.is_number_integer()) return Value(j.template get<int64_t>());
  if (j.is_number()) return Value(j.template get<double>());
  if (j.is_string()) return Value(j.template get<std::string>());
  if (j.is_array()) {
    List items;
    items.reserve(j.size());
    for (const auto& e : j) items.push_back(from_json(e));
    return Value::list(std::move(items));
  }
  if (j.is_object()) {
    Dict d;
    d.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) d.emplace_back(it.key(), from_json(it.value()));
    return Value::dict(std::move(d));
  }
  return Value();
}

}  // namespace hqq::jinja
