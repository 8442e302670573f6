#include "core/text/chat_template.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>

namespace hqq {

using json = nlohmann::json;

namespace {

// Jinja's "undefined" is kept apart from none by using json's discarded state.
json undefined() {
  return json(json::value_t::discarded);
}
bool is_undefined(const json& v) {
  return v.is_discarded();
}

bool truthy(const json& v) {
  if (is_undefined(v) || v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return false;
}

std::string to_text(const json& v) {
  if (is_undefined(v)) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "None";
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 1e15)
      return std::to_string(static_cast<int64_t>(d)) + ".0";
    return v.dump();
  }
  return v.dump();
}

// ---------------------------------------------------------------------------------------------
// Expression tokens

enum class Tok { Name, String, Int, Float, Op, End };

struct Token {
  Tok type;
  std::string text;
  size_t pos;  // offset in the template source, for error messages
};

struct Source {
  const std::string& text;
  [[noreturn]] void fail(size_t pos, const std::string& what) const {
    size_t line = 1 + std::count(text.begin(), text.begin() + std::min(pos, text.size()), '\n');
    size_t nl = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    size_t col = pos - (nl == std::string::npos ? 0 : nl + 1) + 1;
    throw TemplateError("chat template line " + std::to_string(line) + ", column " +
                        std::to_string(col) + ": " + what);
  }
};

std::vector<Token> lex_expression(const Source& src, size_t begin, size_t end) {
  std::vector<Token> out;
  const std::string& s = src.text;
  size_t i = begin;
  static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*",
                               "/",  "%",  "~",  "<",  ">",  "(",  ")", "[", "]",
                               "{",  "}",  ".",  ",",  ":",  "|",  "="};
  while (i < end) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < end && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::Name, s.substr(i, j - i), i});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < end &&
             (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == '_')) {
        if (s[j] == '.') {
          if (j + 1 >= end || !std::isdigit(static_cast<unsigned char>(s[j + 1]))) break;
          is_float = true;
        }
        ++j;
      }
      out.push_back({is_float ? Tok::Float : Tok::Int, s.substr(i, j - i), i});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      while (j < end && s[j] != c) {
        if (s[j] == '\\' && j + 1 < end) {
          char e = s[++j];
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            default:
              v += e;
          }
        } else {
          v += s[j];
        }
        ++j;
      }
      if (j >= end) src.fail(i, "unterminated string literal");
      out.push_back({Tok::String, v, i});
      i = j + 1;
    } else {
      bool matched = false;
      for (const char* op : kOps) {
        size_t n = std::char_traits<char>::length(op);
        if (s.compare(i, n, op) == 0 && i + n <= end) {
          out.push_back({Tok::Op, op, i});
          i += n;
          matched = true;
          break;
        }
      }
      if (!matched) src.fail(i, std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Tok::End, "", end});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expressions

struct Scope;
struct Expr {
  virtual ~Expr() = default;
  virtual json eval(Scope& scope) const = 0;
  size_t pos = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Scope {
  const Source* src;
  std::vector<std::map<std::string, json>> frames;
  json lookup(const std::string& name) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return undefined();
  }
  json* find(const std::string& name) {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }
};

struct Literal : Expr {
  json value;
  json eval(Scope&) const override { return value; }
};

struct Var : Expr {
  std::string name;
  json eval(Scope& s) const override { return s.lookup(name); }
};

json get_item(const json& obj, const json& key) {
  if (obj.is_object() && key.is_string()) {
    auto it = obj.find(key.get<std::string>());
    return it == obj.end() ? undefined() : *it;
  }
  if ((obj.is_array() || obj.is_string()) && key.is_number_integer()) {
    int64_t n = obj.is_array() ? static_cast<int64_t>(obj.size())
                               : static_cast<int64_t>(obj.get_ref<const std::string&>().size());
    int64_t i = key.get<int64_t>();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return undefined();
    if (obj.is_array()) return obj[static_cast<size_t>(i)];
    return std::string(1, obj.get_ref<const std::string&>()[static_cast<size_t>(i)]);
  }
  return undefined();
}

struct GetAttr : Expr {
  ExprPtr obj;
  std::string name;
  json eval(Scope& s) const override { return get_item(obj->eval(s), name); }
};

struct GetItem : Expr {
  ExprPtr obj, key;
  json eval(Scope& s) const override { return get_item(obj->eval(s), key->eval(s)); }
};

struct Slice : Expr {
  ExprPtr obj, start, stop, step;
  json eval(Scope& s) const override {
    json v = obj->eval(s);
    bool is_str = v.is_string();
    if (!v.is_array() && !is_str) return undefined();
    int64_t n = is_str ? static_cast<int64_t>(v.get_ref<const std::string&>().size())
                       : static_cast<int64_t>(v.size());
    int64_t st = step ? step->eval(s).get<int64_t>() : 1;
    if (st == 0) s.src->fail(pos, "slice step cannot be zero");
    auto norm = [n](int64_t i) { return i < 0 ? std::max<int64_t>(0, i + n) : std::min(i, n); };
    int64_t a, b;
    if (st > 0) {
      a = start ? norm(start->eval(s).get<int64_t>()) : 0;
      b = stop ? norm(stop->eval(s).get<int64_t>()) : n;
    } else {
      a = start ? std::min(norm(start->eval(s).get<int64_t>()), n - 1) : n - 1;
      b = stop ? norm(stop->eval(s).get<int64_t>()) : -1;
    }
    json out = is_str ? json("") : json::array();
    std::string str;
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) {
      if (is_str)
        str += v.get_ref<const std::string&>()[static_cast<size_t>(i)];
      else
        out.push_back(v[static_cast<size_t>(i)]);
    }
    return is_str ? json(str) : out;
  }
};

struct ListExpr : Expr {
  std::vector<ExprPtr> items;
  json eval(Scope& s) const override {
    json out = json::array();
    for (const auto& e : items) out.push_back(e->eval(s));
    return out;
  }
};

struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  json eval(Scope& s) const override {
    json out = json::object();
    for (const auto& [k, v] : items) out[to_text(k->eval(s))] = v->eval(s);
    return out;
  }
};

struct Unary : Expr {
  std::string op;
  ExprPtr e;
  json eval(Scope& s) const override {
    json v = e->eval(s);
    if (op == "not") return !truthy(v);
    if (v.is_number_integer()) return op == "-" ? -v.get<int64_t>() : v.get<int64_t>();
    if (v.is_number()) return op == "-" ? -v.get<double>() : v.get<double>();
    s.src->fail(pos, "unary " + op + " needs a number");
  }
};

bool contains(const json& container, const json& item) {
  if (container.is_string() && item.is_string())
    return container.get_ref<const std::string&>().find(item.get_ref<const std::string&>()) !=
           std::string::npos;
  if (container.is_array())
    return std::find(container.begin(), container.end(), item) != container.end();
  if (container.is_object() && item.is_string()) return container.contains(item.get<std::string>());
  return false;
}

struct Binary : Expr {
  std::string op;
  ExprPtr l, r;
  json eval(Scope& s) const override {
    if (op == "and") {
      json a = l->eval(s);
      return truthy(a) ? r->eval(s) : a;
    }
    if (op == "or") {
      json a = l->eval(s);
      return truthy(a) ? a : r->eval(s);
    }
    json a = l->eval(s), b = r->eval(s);
    if (op == "~") return to_text(a) + to_text(b);
    if (op == "==") return equal(a, b);
    if (op == "!=") return !equal(a, b);
    if (op == "in") return contains(b, a);
    if (op == "not in") return !contains(b, a);
    if (op == "+") {
      if (a.is_string() && b.is_string()) return a.get<std::string>() + b.get<std::string>();
      if (a.is_array() && b.is_array()) {
        json out = a;
        for (const auto& e : b) out.push_back(e);
        return out;
      }
    }
    if (!a.is_number() || !b.is_number()) {
      if ((op == "<" || op == ">" || op == "<=" || op == ">=") && a.is_string() && b.is_string()) {
        const auto &x = a.get_ref<const std::string&>(), &y = b.get_ref<const std::string&>();
        return op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y;
      }
      s.src->fail(pos,
                  "operator " + op + " cannot combine " + a.type_name() + " and " + b.type_name());
    }
    bool ints = a.is_number_integer() && b.is_number_integer();
    if (ints) {
      int64_t x = a.get<int64_t>(), y = b.get<int64_t>();
      if (op == "+") return x + y;
      if (op == "-") return x - y;
      if (op == "*") return x * y;
      if (op == "**" && y >= 0) {
        int64_t r = 1;
        for (int64_t k = 0; k < y && k < 64; ++k) r *= x;
        return r;
      }
      if (op == "//" || op == "%") {
        if (y == 0) s.src->fail(pos, "division by zero");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
          q -= 1;
          m += y;
        }
        return op == "//" ? json(q) : json(m);
      }
    }
    double x = a.get<double>(), y = b.get<double>();
    if (op == "+") return x + y;
    if (op == "-") return x - y;
    if (op == "*") return x * y;
    if (op == "/") return x / y;
    if (op == "//") return std::floor(x / y);
    if (op == "%") return x - y * std::floor(x / y);
    if (op == "**") return std::pow(x, y);
    if (op == "<") return x < y;
    if (op == ">") return x > y;
    if (op == "<=") return x <= y;
    if (op == ">=") return x >= y;
    s.src->fail(pos, "unknown operator " + op);
  }
  static bool equal(const json& a, const json& b) {
    if (is_undefined(a) || is_undefined(b)) return is_undefined(a) && is_undefined(b);
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }
};

struct Ternary : Expr {
  ExprPtr cond, then, otherwise;
  json eval(Scope& s) const override {
    if (truthy(cond->eval(s))) return then->eval(s);
    return otherwise ? otherwise->eval(s) : undefined();
  }
};

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
};

struct Call : Expr {
  ExprPtr callee;
  Args args;
  json eval(Scope& s) const override;
};

struct FilterExpr : Expr {
  ExprPtr e;
  std::string name;
  Args args;
  json eval(Scope& s) const override;
};

struct TestExpr : Expr {
  ExprPtr e;
  std::string name;
  bool negated = false;
  Args args;
  json eval(Scope& s) const override;
};

std::vector<json> eval_args(const Args& a, Scope& s) {
  std::vector<json> out;
  for (const auto& e : a.positional) out.push_back(e->eval(s));
  return out;
}

json named_arg(const Args& a, Scope& s, const std::string& name, size_t index,
               const std::vector<json>& pos) {
  for (const auto& [n, e] : a.named)
    if (n == name) return e->eval(s);
  return index < pos.size() ? pos[index] : undefined();
}

std::string strip(const std::string& v, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = v.size();
  if (left) b = v.find_first_not_of(chars);
  if (b == std::string::npos) return "";
  if (right) e = v.find_last_not_of(chars) + 1;
  return v.substr(b, e - b);
}

const char* kSpaces = " \t\n\r\f\v";

std::string title_case(std::string v) {
  bool start = true;
  for (char& c : v) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      c = start ? std::toupper(c) : std::tolower(c);
      start = false;
    } else {
      start = true;
    }
  }
  return v;
}

json call_method(const json& obj, const std::string& name, const std::vector<json>& a, Scope& s,
                 size_t pos) {
  if (obj.is_string()) {
    const std::string& v = obj.get_ref<const std::string&>();
    auto arg = [&](size_t i) {
      return i < a.size() && a[i].is_string() ? a[i].get<std::string>() : std::string();
    };
    std::string chars = a.empty() || a[0].is_null() ? kSpaces : arg(0);
    if (name == "strip") return strip(v, chars, true, true);
    if (name == "lstrip") return strip(v, chars, true, false);
    if (name == "rstrip") return strip(v, chars, false, true);
    if (name == "upper" || name == "lower") {
      std::string r = v;
      for (char& c : r) c = name == "upper" ? std::toupper(c) : std::tolower(c);
      return r;
    }
    if (name == "title") return title_case(v);
    if (name == "capitalize") {
      std::string r = v;
      for (char& c : r) c = std::tolower(c);
      if (!r.empty()) r[0] = std::toupper(r[0]);
      return r;
    }
    if (name == "startswith") return v.rfind(arg(0), 0) == 0;
    if (name == "endswith")
      return v.size() >= arg(0).size() &&
             v.compare(v.size() - arg(0).size(), arg(0).size(), arg(0)) == 0;
    if (name == "replace") {
      std::string r = v, from = arg(0), to = arg(1);
      if (from.empty()) return r;
      for (size_t p = r.find(from); p != std::string::npos; p = r.find(from, p + to.size()))
        r.replace(p, from.size(), to);
      return r;
    }
    if (name == "split") {
      json out = json::array();
      if (a.empty() || a[0].is_null()) {
        size_t p = 0;
        while ((p = v.find_first_not_of(kSpaces, p)) != std::string::npos) {
          size_t e = v.find_first_of(kSpaces, p);
          out.push_back(v.substr(p, e == std::string::npos ? std::string::npos : e - p));
          p = e;
        }
        return out;
      }
      std::string sep = arg(0);
      if (sep.empty()) s.src->fail(pos, "split with an empty separator");
      size_t p = 0, e;
      while ((e = v.find(sep, p)) != std::string::npos) {
        out.push_back(v.substr(p, e - p));
        p = e + sep.size();
      }
      out.push_back(v.substr(p));
      return out;
    }
  }
  if (obj.is_object()) {
    if (name == "items") {
      json out = json::array();
      for (auto it = obj.begin(); it != obj.end(); ++it)
        out.push_back(json::array({it.key(), it.value()}));
      return out;
    }
    if (name == "keys") {
      json out = json::array();
      for (auto it = obj.begin(); it != obj.end(); ++it) out.push_back(it.key());
      return out;
    }
    if (name == "values") {
      json out = json::array();
      for (auto it = obj.begin(); it != obj.end(); ++it) out.push_back(it.value());
      return out;
    }
    if (name == "get") {
      json v = a.empty() ? undefined() : get_item(obj, a[0]);
      return is_undefined(v) ? (a.size() > 1 ? a[1] : json(nullptr)) : v;
    }
  }
  s.src->fail(pos, "unknown method '" + name + "' on " +
                       (is_undefined(obj) ? "undefined" : obj.type_name()));
}

json Call::eval(Scope& s) const {
  std::vector<json> a = eval_args(args, s);
  if (auto* attr = dynamic_cast<const GetAttr*>(callee.get()))
    return call_method(attr->obj->eval(s), attr->name, a, s, pos);
  auto* var = dynamic_cast<const Var*>(callee.get());
  if (!var) s.src->fail(pos, "only functions and methods can be called");
  if (var->name == "raise_exception")
    throw TemplateError("chat template raised an error: " +
                        (a.empty() ? std::string() : to_text(a[0])));
  if (var->name == "namespace") {
    json ns = json::object();
    for (const auto& [n, e] : args.named) ns[n] = e->eval(s);
    return ns;
  }
  if (var->name == "range") {
    int64_t start = 0, stop = 0, step = 1;
    if (a.size() == 1) stop = a[0].get<int64_t>();
    if (a.size() >= 2) start = a[0].get<int64_t>(), stop = a[1].get<int64_t>();
    if (a.size() >= 3) step = a[2].get<int64_t>();
    if (step == 0) s.src->fail(pos, "range step cannot be zero");
    json out = json::array();
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
    return out;
  }
  if (var->name == "strftime_now") return "";  // dates are not part of a reproducible prompt
  s.src->fail(pos, "unknown function '" + var->name + "'");
}

bool apply_test(const std::string& name, const json& v, const std::vector<json>& a, Scope& s,
                size_t pos);

json FilterExpr::eval(Scope& s) const {
  json v = e->eval(s);
  std::vector<json> a = eval_args(args, s);
  if (name == "trim") return strip(to_text(v), kSpaces, true, true);
  if (name == "length" || name == "count") {
    if (v.is_string()) return v.get_ref<const std::string&>().size();
    if (v.is_array() || v.is_object()) return v.size();
    return 0;
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize")
    return call_method(json(to_text(v)), name, {}, s, pos);
  if (name == "first") return v.is_array() && !v.empty() ? v.front() : undefined();
  if (name == "last") return v.is_array() && !v.empty() ? v.back() : undefined();
  if (name == "join") {
    std::string sep = a.empty() ? "" : to_text(a[0]), out;
    if (!v.is_array()) return to_text(v);
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + to_text(v[i]);
    return out;
  }
  if (name == "default" || name == "d") {
    bool boolean = a.size() > 1 && truthy(a[1]);
    bool use_default = boolean ? !truthy(v) : is_undefined(v);
    return use_default ? (a.empty() ? json("") : a[0]) : v;
  }
  if (name == "tojson") {
    json indent = named_arg(args, s, "indent", 0, a);
    return v.dump(indent.is_number_integer() ? indent.get<int>() : -1);
  }
  if (name == "string") return to_text(v);
  if (name == "int") {
    if (v.is_number()) return static_cast<int64_t>(v.get<double>());
    try {
      return std::stoll(to_text(v));
    } catch (...) {
      return 0;
    }
  }
  if (name == "list") {
    if (v.is_array()) return v;
    json out = json::array();
    if (v.is_string())
      for (char c : v.get_ref<const std::string&>()) out.push_back(std::string(1, c));
    return out;
  }
  if (name == "items") return call_method(v, "items", {}, s, pos);
  if (name == "reverse") {
    if (v.is_string()) {
      std::string r = v.get<std::string>();
      std::reverse(r.begin(), r.end());
      return r;
    }
    json out = v;
    if (out.is_array()) std::reverse(out.begin(), out.end());
    return out;
  }
  if (name == "replace") return call_method(json(to_text(v)), "replace", a, s, pos);
  if (name == "selectattr" || name == "rejectattr") {
    // selectattr("attr") keeps items whose attribute is truthy; selectattr("attr", "test", args...)
    // keeps items whose attribute passes the test.
    if (a.empty() || !a[0].is_string()) s.src->fail(pos, name + " needs an attribute name");
    json out = json::array();
    if (!v.is_array()) return out;
    std::vector<json> test_args(a.size() > 2 ? a.begin() + 2 : a.end(), a.end());
    for (const auto& item : v) {
      json attr = get_item(item, a[0]);
      bool pass = a.size() > 1 ? apply_test(to_text(a[1]), attr, test_args, s, pos) : truthy(attr);
      if (pass == (name == "selectattr")) out.push_back(item);
    }
    return out;
  }
  if (name == "safe" || name == "e" || name == "escape") return v;
  if (name == "abs")
    return v.is_number_integer() ? json(std::llabs(v.get<int64_t>()))
                                 : json(std::fabs(v.get<double>()));
  s.src->fail(pos, "unknown filter '" + name + "'");
}

bool apply_test(const std::string& name, const json& v, const std::vector<json>& a, Scope& s,
                size_t pos) {
  if (name == "defined") return !is_undefined(v);
  if (name == "undefined") return is_undefined(v);
  if (name == "none") return v.is_null();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_number_integer();
  if (name == "float") return v.is_number_float();
  if (name == "boolean") return v.is_boolean();
  if (name == "true") return v.is_boolean() && v.get<bool>();
  if (name == "false") return v.is_boolean() && !v.get<bool>();
  if (name == "mapping") return v.is_object();
  if (name == "iterable") return v.is_array() || v.is_object() || v.is_string();
  if (name == "sequence") return v.is_array() || v.is_string();
  if (name == "even" || name == "odd")
    return v.is_number_integer() && (v.get<int64_t>() % 2 == 0) == (name == "even");
  if (name == "eq" || name == "equalto" || name == "sameas" || name == "==")
    return !a.empty() && Binary::equal(v, a[0]);
  if (name == "ne" || name == "!=") return a.empty() || !Binary::equal(v, a[0]);
  if (name == "divisibleby")
    return !a.empty() && a[0].is_number_integer() && v.is_number_integer() &&
           a[0].get<int64_t>() != 0 && v.get<int64_t>() % a[0].get<int64_t>() == 0;
  s.src->fail(pos, "unknown test '" + name + "'");
}

json TestExpr::eval(Scope& s) const {
  bool r = apply_test(name, e->eval(s), eval_args(args, s), s, pos);
  return negated ? !r : r;
}

// ---------------------------------------------------------------------------------------------
// Expression parser (precedence as Jinja's own parser)

class ExprParser {
 public:
  ExprParser(const Source& src, std::vector<Token> toks) : src_(src), t_(std::move(toks)) {}

  ExprPtr parse_expression() { return parse_ternary(); }
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().type == Tok::End; }
  Token next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool accept_op(const std::string& op) {
    if (peek().type == Tok::Op && peek().text == op) return ++i_, true;
    return false;
  }
  bool accept_name(const std::string& n) {
    if (peek().type == Tok::Name && peek().text == n) return ++i_, true;
    return false;
  }
  void expect_op(const std::string& op) {
    if (!accept_op(op)) src_.fail(peek().pos, "expected '" + op + "'");
  }
  std::string expect_name() {
    if (peek().type != Tok::Name) src_.fail(peek().pos, "expected a name");
    return next().text;
  }
  void expect_end() {
    if (!at_end()) src_.fail(peek().pos, "unexpected '" + peek().text + "'");
  }

 private:
  template <typename T>
  std::unique_ptr<T> make(size_t pos) {
    auto e = std::make_unique<T>();
    e->pos = pos;
    return e;
  }
  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, size_t pos) {
    auto b = make<Binary>(pos);
    b->op = op;
    b->l = std::move(l);
    b->r = std::move(r);
    return b;
  }

  ExprPtr parse_ternary() {
    ExprPtr e = parse_or();
    if (peek().type == Tok::Name && peek().text == "if") {
      size_t pos = next().pos;
      auto t = make<Ternary>(pos);
      t->then = std::move(e);
      t->cond = parse_or();
      if (accept_name("else")) t->otherwise = parse_ternary();
      return t;
    }
    return e;
  }
  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (peek().type == Tok::Name && peek().text == "or") {
      size_t pos = next().pos;
      l = binary("or", std::move(l), parse_and(), pos);
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (peek().type == Tok::Name && peek().text == "and") {
      size_t pos = next().pos;
      l = binary("and", std::move(l), parse_not(), pos);
    }
    return l;
  }
  ExprPtr parse_not() {
    if (peek().type == Tok::Name && peek().text == "not") {
      size_t pos = next().pos;
      auto u = make<Unary>(pos);
      u->op = "not";
      u->e = parse_not();
      return u;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr l = parse_math1();
    for (;;) {
      const Token& t = peek();
      size_t pos = t.pos;
      if (t.type == Tok::Op && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                t.text == ">" || t.text == "<=" || t.text == ">=")) {
        std::string op = next().text;
        l = binary(op, std::move(l), parse_math1(), pos);
      } else if (t.type == Tok::Name && t.text == "in") {
        next();
        l = binary("in", std::move(l), parse_math1(), pos);
      } else if (t.type == Tok::Name && t.text == "not" && peek(1).type == Tok::Name &&
                 peek(1).text == "in") {
        next();
        next();
        l = binary("not in", std::move(l), parse_math1(), pos);
      } else {
        return l;
      }
    }
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (peek().type == Tok::Op && (peek().text == "+" || peek().text == "-")) {
      Token t = next();
      l = binary(t.text, std::move(l), parse_concat(), t.pos);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (peek().type == Tok::Op && peek().text == "~") {
      Token t = next();
      l = binary("~", std::move(l), parse_math2(), t.pos);
    }
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (peek().type == Tok::Op && (peek().text == "*" || peek().text == "/" ||
                                      peek().text == "//" || peek().text == "%")) {
      Token t = next();
      l = binary(t.text, std::move(l), parse_pow(), t.pos);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary();
    while (peek().type == Tok::Op && peek().text == "**") {
      Token t = next();
      l = binary("**", std::move(l), parse_unary(), t.pos);
    }
    return l;
  }
  ExprPtr parse_unary() {
    if (peek().type == Tok::Op && (peek().text == "-" || peek().text == "+")) {
      Token t = next();
      auto u = make<Unary>(t.pos);
      u->op = t.text;
      u->e = parse_unary();
      return u;
    }
    return parse_filters(parse_postfix(parse_primary()));
  }
  Args parse_args() {  // after '('
    Args a;
    if (accept_op(")")) return a;
    do {
      if (peek().type == Tok::Name && peek(1).type == Tok::Op && peek(1).text == "=") {
        std::string n = next().text;
        next();
        a.named.emplace_back(n, parse_expression());
      } else {
        a.positional.push_back(parse_expression());
      }
    } while (accept_op(","));
    expect_op(")");
    return a;
  }
  ExprPtr parse_primary() {
    Token t = next();
    switch (t.type) {
      case Tok::String: {
        auto l = make<Literal>(t.pos);
        l->value = t.text;
        while (peek().type == Tok::String)
          l->value = l->value.get<std::string>() + next().text;  // "a" "b"
        return l;
      }
      case Tok::Int: {
        auto l = make<Literal>(t.pos);
        std::string digits;
        for (char c : t.text)
          if (c != '_') digits += c;
        l->value = std::stoll(digits);
        return l;
      }
      case Tok::Float: {
        auto l = make<Literal>(t.pos);
        l->value = std::stod(t.text);
        return l;
      }
      case Tok::Name: {
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          auto l = make<Literal>(t.pos);
          l->value = t.text[0] == 't' || t.text[0] == 'T';
          return l;
        }
        if (t.text == "none" || t.text == "None") {
          auto l = make<Literal>(t.pos);
          l->value = nullptr;
          return l;
        }
        auto v = make<Var>(t.pos);
        v->name = t.text;
        return v;
      }
      case Tok::Op: {
        if (t.text == "(") {
          ExprPtr e = parse_expression();
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          auto l = make<ListExpr>(t.pos);
          if (!accept_op("]")) {
            do {
              if (peek().type == Tok::Op && peek().text == "]") break;
              l->items.push_back(parse_expression());
            } while (accept_op(","));
            expect_op("]");
          }
          return l;
        }
        if (t.text == "{") {
          auto d = make<DictExpr>(t.pos);
          if (!accept_op("}")) {
            do {
              if (peek().type == Tok::Op && peek().text == "}") break;
              ExprPtr k = parse_expression();
              expect_op(":");
              d->items.emplace_back(std::move(k), parse_expression());
            } while (accept_op(","));
            expect_op("}");
          }
          return d;
        }
        break;
      }
      case Tok::End:
        src_.fail(t.pos, "unexpected end of expression");
    }
    src_.fail(t.pos, "unexpected '" + t.text + "'");
  }
  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      size_t pos = peek().pos;
      if (accept_op(".")) {
        auto g = make<GetAttr>(pos);
        g->obj = std::move(e);
        g->name = expect_name();
        e = std::move(g);
      } else if (accept_op("[")) {
        ExprPtr a, b, c;
        bool slice = false;
        if (!(peek().type == Tok::Op && peek().text == ":")) a = parse_expression();
        if (accept_op(":")) {
          slice = true;
          if (!(peek().type == Tok::Op && (peek().text == "]" || peek().text == ":")))
            b = parse_expression();
          if (accept_op(":") && !(peek().type == Tok::Op && peek().text == "]"))
            c = parse_expression();
        }
        expect_op("]");
        if (slice) {
          auto sl = make<Slice>(pos);
          sl->obj = std::move(e);
          sl->start = std::move(a);
          sl->stop = std::move(b);
          sl->step = std::move(c);
          e = std::move(sl);
        } else {
          if (!a) src_.fail(pos, "empty subscript");
          auto gi = make<GetItem>(pos);
          gi->obj = std::move(e);
          gi->key = std::move(a);
          e = std::move(gi);
        }
      } else if (accept_op("(")) {
        auto c = make<Call>(pos);
        c->callee = std::move(e);
        c->args = parse_args();
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      size_t pos = peek().pos;
      if (accept_op("|")) {
        auto f = make<FilterExpr>(pos);
        f->e = std::move(e);
        f->name = expect_name();
        if (accept_op("(")) f->args = parse_args();
        e = std::move(f);
      } else if (peek().type == Tok::Name && peek().text == "is") {
        next();
        auto t = make<TestExpr>(pos);
        t->e = std::move(e);
        t->negated = accept_name("not");
        if (peek().type == Tok::Name &&
            (peek().text == "none" || peek().text == "true" || peek().text == "false"))
          t->name = next().text;
        else
          t->name = expect_name();
        if (accept_op("(")) {
          t->args = parse_args();
        } else if (peek().type == Tok::String || peek().type == Tok::Int ||
                   peek().type == Tok::Float ||
                   (peek().type == Tok::Name && peek().text != "and" && peek().text != "or" &&
                    peek().text != "else" && peek().text != "if")) {
          t->args.positional.push_back(parse_primary());  // "x is divisibleby 3"
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  const Source& src_;
  std::vector<Token> t_;
  size_t i_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Template statements

struct ChatTemplate::Node {
  virtual ~Node() = default;
  virtual void render(Scope& s, std::string& out) const = 0;
};

namespace {

using NodeList = std::vector<std::unique_ptr<ChatTemplate::Node>>;

void render_all(const NodeList& nodes, Scope& s, std::string& out) {
  for (const auto& n : nodes) n->render(s, out);
}

struct TextNode : ChatTemplate::Node {
  std::string text;
  void render(Scope&, std::string& out) const override { out += text; }
};

struct OutputNode : ChatTemplate::Node {
  ExprPtr e;
  void render(Scope& s, std::string& out) const override { out += to_text(e->eval(s)); }
};

struct IfNode : ChatTemplate::Node {
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList otherwise;
  void render(Scope& s, std::string& out) const override {
    for (const auto& [cond, body] : branches)
      if (truthy(cond->eval(s))) return render_all(body, s, out);
    render_all(otherwise, s, out);
  }
};

struct ForNode : ChatTemplate::Node {
  std::vector<std::string> vars;
  ExprPtr iterable, filter;
  NodeList body, otherwise;
  size_t pos = 0;
  void render(Scope& s, std::string& out) const override {
    json seq = iterable->eval(s);
    json items = json::array();
    if (seq.is_array())
      items = seq;
    else if (seq.is_object())
      for (auto it = seq.begin(); it != seq.end(); ++it) items.push_back(it.key());
    else if (seq.is_string())
      for (char c : seq.get_ref<const std::string&>()) items.push_back(std::string(1, c));
    else if (!is_undefined(seq) && !seq.is_null())
      s.src->fail(pos, std::string("cannot iterate over ") + seq.type_name());
    auto bind = [&](std::map<std::string, json>& frame, const json& item) {
      if (vars.size() == 1) {
        frame[vars[0]] = item;
        return;
      }
      for (size_t k = 0; k < vars.size(); ++k)
        frame[vars[k]] = item.is_array() && k < item.size() ? item[k] : undefined();
    };
    if (filter) {  // "for x in xs if cond": the loop counters see only the kept items
      json kept = json::array();
      for (const auto& item : items) {
        s.frames.emplace_back();
        bind(s.frames.back(), item);
        bool keep = truthy(filter->eval(s));
        s.frames.pop_back();
        if (keep) kept.push_back(item);
      }
      items = kept;
    }
    if (items.empty()) return render_all(otherwise, s, out);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      s.frames.emplace_back();
      auto& frame = s.frames.back();
      bind(frame, items[static_cast<size_t>(i)]);
      frame["loop"] = {{"index", i + 1},        {"index0", i}, {"first", i == 0},
                       {"last", i == n - 1},    {"length", n}, {"revindex", n - i},
                       {"revindex0", n - i - 1}};
      if (i > 0) frame["loop"]["previtem"] = items[static_cast<size_t>(i - 1)];
      if (i + 1 < n) frame["loop"]["nextitem"] = items[static_cast<size_t>(i + 1)];
      render_all(body, s, out);
      s.frames.pop_back();
    }
  }
};

struct SetNode : ChatTemplate::Node {
  std::string name, attr;  // attr set: "set ns.attr = value"
  ExprPtr value;
  size_t pos = 0;
  void render(Scope& s, std::string&) const override {
    json v = value->eval(s);
    if (attr.empty()) {
      s.frames.back()[name] = v;
      return;
    }
    json* target = s.find(name);
    if (!target || !target->is_object()) s.src->fail(pos, "'" + name + "' is not a namespace");
    (*target)[attr] = v;
  }
};

// Raw pieces of the source: text and tags, before statements are matched up.
struct Piece {
  enum Kind { Text, Output, Statement, Comment } kind;
  std::string text;           // literal text, or the tag's inner source
  size_t begin = 0, end = 0;  // inner source range in the template, for expression lexing
};

std::vector<Piece> split_pieces(const Source& src) {
  const std::string& s = src.text;
  std::vector<Piece> out;
  size_t i = 0;
  std::string text;
  bool strip_next = false, trim_next = false;
  auto flush_text = [&]() {
    if (!text.empty()) out.push_back({Piece::Text, text});
    text.clear();
  };
  while (i < s.size()) {
    size_t open = s.find('{', i);
    while (open != std::string::npos && open + 1 < s.size() && s[open + 1] != '{' &&
           s[open + 1] != '%' && s[open + 1] != '#')
      open = s.find('{', open + 1);
    std::string chunk = s.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (strip_next)
      chunk = strip(chunk, kSpaces, true, false);
    else if (trim_next && !chunk.empty() && chunk[0] == '\n')
      chunk.erase(0, 1);  // trim_blocks
    strip_next = trim_next = false;
    text += chunk;
    if (open == std::string::npos || open + 1 >= s.size()) break;
    char kind = s[open + 1];
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t inner = open + 2;
    bool strip_before = inner < s.size() && s[inner] == '-';
    bool keep_lstrip = inner < s.size() && s[inner] == '+';
    if (strip_before || keep_lstrip) ++inner;
    size_t close_at = s.find(close, inner);
    if (close_at == std::string::npos)
      src.fail(open, std::string("unclosed tag, expected '") + close + "'");
    size_t inner_end = close_at;
    bool strip_after = inner_end > inner && s[inner_end - 1] == '-';
    if (strip_after) --inner_end;
    if (strip_before) {
      text = strip(text, kSpaces, false, true);
    } else if (kind != '{' && !keep_lstrip) {
      // lstrip_blocks: a block tag preceded on its source line by blanks only loses them.
      size_t k = open;
      while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t')) --k;
      if (k == 0 || s[k - 1] == '\n') text = strip(text, " \t", false, true);
    }
    flush_text();
    if (kind == '{')
      out.push_back({Piece::Output, s.substr(inner, inner_end - inner), inner, inner_end});
    if (kind == '%')
      out.push_back({Piece::Statement, s.substr(inner, inner_end - inner), inner, inner_end});
    strip_next = strip_after;
    trim_next = kind != '{';
    i = close_at + 2;
  }
  flush_text();
  return out;
}

class TemplateParser {
 public:
  TemplateParser(const Source& src, std::vector<Piece> pieces) : src_(src), p_(std::move(pieces)) {}

  NodeList parse_all() {
    std::string stop;
    NodeList body = parse_until({}, &stop);
    return body;
  }

 private:
  // Parses nodes until a statement whose keyword is in `ends`; that keyword goes to *stop and the
  // parser of it remains in cur_.
  NodeList parse_until(const std::vector<std::string>& ends, std::string* stop) {
    NodeList nodes;
    while (i_ < p_.size()) {
      const Piece& piece = p_[i_++];
      if (piece.kind == Piece::Text) {
        auto t = std::make_unique<TextNode>();
        t->text = piece.text;
        nodes.push_back(std::move(t));
      } else if (piece.kind == Piece::Output) {
        ExprParser ep(src_, lex_expression(src_, piece.begin, piece.end));
        auto o = std::make_unique<OutputNode>();
        o->e = ep.parse_expression();
        ep.expect_end();
        nodes.push_back(std::move(o));
      } else if (piece.kind == Piece::Statement) {
        cur_ = std::make_unique<ExprParser>(src_, lex_expression(src_, piece.begin, piece.end));
        std::string kw = cur_->expect_name();
        if (std::find(ends.begin(), ends.end(), kw) != ends.end()) {
          *stop = kw;
          return nodes;
        }
        if (auto n = parse_statement(kw, piece.begin)) nodes.push_back(std::move(n));
      }
    }
    if (!ends.empty()) src_.fail(src_.text.size(), "missing {% " + ends.back() + " %}");
    return nodes;
  }

  std::unique_ptr<ChatTemplate::Node> parse_statement(const std::string& kw, size_t pos) {
    if (kw == "if") {
      auto n = std::make_unique<IfNode>();
      ExprPtr cond = cur_->parse_expression();
      cur_->expect_end();
      for (;;) {
        std::string stop;
        NodeList body = parse_until({"elif", "else", "endif"}, &stop);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (stop == "elif") {
          cond = cur_->parse_expression();
          cur_->expect_end();
          continue;
        }
        if (stop == "else") {
          cur_->expect_end();
          n->otherwise = parse_until({"endif"}, &stop);
        }
        cur_->expect_end();
        return n;
      }
    }
    if (kw == "for") {
      auto n = std::make_unique<ForNode>();
      n->pos = pos;
      do n->vars.push_back(cur_->expect_name());
      while (cur_->accept_op(","));
      if (!cur_->accept_name("in")) src_.fail(cur_->peek().pos, "expected 'in'");
      n->iterable = cur_->parse_expression();
      if (auto* t = dynamic_cast<Ternary*>(n->iterable.get()); t && !t->otherwise) {
        n->filter = std::move(t->cond);  // "for x in xs if cond" parsed as a ternary without else
        n->iterable = std::move(t->then);
      }
      cur_->expect_end();
      std::string stop;
      n->body = parse_until({"else", "endfor"}, &stop);
      if (stop == "else") {
        cur_->expect_end();
        n->otherwise = parse_until({"endfor"}, &stop);
      }
      cur_->expect_end();
      return n;
    }
    if (kw == "set") {
      auto n = std::make_unique<SetNode>();
      n->pos = pos;
      n->name = cur_->expect_name();
      if (cur_->accept_op(".")) n->attr = cur_->expect_name();
      if (!cur_->accept_op("="))
        src_.fail(cur_->peek().pos, "block 'set' (without '=') is not supported");
      n->value = cur_->parse_expression();
      cur_->expect_end();
      return n;
    }
    if (kw == "generation" || kw == "endgeneration") return nullptr;  // training-mask markers
    src_.fail(pos, "unsupported statement '" + kw + "'");
  }

  const Source& src_;
  std::vector<Piece> p_;
  size_t i_ = 0;
  std::unique_ptr<ExprParser> cur_;
};

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source) : source_(source) {
  Source src{source_};
  TemplateParser parser(src, split_pieces(src));
  body_ = parser.parse_all();
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const json& context) const {
  Source src{source_};
  Scope scope;
  scope.src = &src;
  scope.frames.emplace_back();
  if (context.is_object())
    for (auto it = context.begin(); it != context.end(); ++it)
      scope.frames.back()[it.key()] = it.value();
  std::string out;
  render_all(body_, scope, out);
  return out;
}

std::string render_chat(const std::string& template_source,
                        const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token) {
  if (template_source.empty()) {
    std::string out;
    for (const auto& m : messages) out += m.role + ": " + m.content + "\n";
    if (add_generation_prompt) out += "assistant:";
    return out;
  }
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  json ctx = {{"messages", msgs},
              {"add_generation_prompt", add_generation_prompt},
              {"bos_token", bos_token},
              {"eos_token", eos_token}};
  return ChatTemplate(template_source).render(ctx);
}

}  // namespace hqq
