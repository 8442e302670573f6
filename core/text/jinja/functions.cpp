// Tests (x is defined), methods of strings and dicts (x.strip(), d.items()) and the global
// functions transformers provides (range, namespace, raise_exception, strftime_now).
#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/text/jinja/builtins.h"

namespace hqq::jinja {

namespace {

const char* kWhitespace = " \t\n\r\f\v";

std::string arg_string(const CallArgs& a, const std::string& name, size_t index, Context& c,
                       size_t pos) {
  Value v = a.get(name, index);
  if (!v.is_string()) c.fail(pos, "argument '" + name + "' must be a string, not " + v.type_name());
  return v.str();
}

std::string case_map(std::string s, int (*f)(int)) {
  for (char& ch : s) ch = static_cast<char>(f(static_cast<unsigned char>(ch)));
  return s;
}

bool affix_match(const std::string& s, const Value& arg, bool prefix, Context& c, size_t pos) {
  auto one = [&](const Value& p) {
    if (!p.is_string()) c.fail(pos, "startswith/endswith need a string");
    const std::string& x = p.str();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (arg.is_list()) return std::any_of(arg.items().begin(), arg.items().end(), one);
  return one(arg);
}

Value split(const std::string& v, const Value& sep_arg, int64_t maxsplit, Context& c, size_t pos) {
  List out;
  auto push = [&](std::string piece) {
    c.check_list(out.size() + 1, pos);
    out.push_back(Value(std::move(piece)));
  };
  if (sep_arg.is_undefined() || sep_arg.is_none()) {
    size_t p = v.find_first_not_of(kWhitespace);
    while (p != std::string::npos) {
      size_t e = v.find_first_of(kWhitespace, p);
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t last = v.find_last_not_of(kWhitespace);
        push(v.substr(p, last + 1 - p));
        break;
      }
      push(v.substr(p, e == std::string::npos ? std::string::npos : e - p));
      p = e == std::string::npos ? e : v.find_first_not_of(kWhitespace, e);
    }
  } else {
    if (!sep_arg.is_string() || sep_arg.str().empty())
      c.fail(pos, "split needs a non-empty separator");
    const std::string& sep = sep_arg.str();
    size_t p = 0, e;
    while ((maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) &&
           (e = v.find(sep, p)) != std::string::npos) {
      push(v.substr(p, e - p));
      p = e + sep.size();
    }
    push(v.substr(p));
  }
  return Value::list(std::move(out));
}

std::string py_title(const std::string& v) {  // str.title(): a letter after a non-letter is upper
  std::string r = v;
  bool prev_alpha = false;
  for (char& ch : r) {
    bool alpha = std::isalpha(static_cast<unsigned char>(ch));
    if (alpha) ch = static_cast<char>(prev_alpha ? std::tolower(ch) : std::toupper(ch));
    prev_alpha = alpha;
  }
  return r;
}

Value string_method(const std::string& v, const std::string& name, const CallArgs& a, Context& c,
                    size_t pos, bool* found) {
  *found = true;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Value chars = a.get("chars", 0);
    std::string set = chars.is_string() ? chars.str() : std::string();
    return Value(
        strip_chars(v, chars.is_string() ? &set : nullptr, name != "rstrip", name != "lstrip"));
  }
  if (name == "upper") return Value(case_map(v, ::toupper));
  if (name == "lower") return Value(case_map(v, ::tolower));
  if (name == "title") return Value(py_title(v));
  if (name == "capitalize") {
    std::string r = case_map(v, ::tolower);
    if (!r.empty()) r[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r[0])));
    return Value(r);
  }
  if (name == "startswith") return Value(affix_match(v, a.get("prefix", 0), true, c, pos));
  if (name == "endswith") return Value(affix_match(v, a.get("suffix", 0), false, c, pos));
  if (name == "replace") {
    std::string from = arg_string(a, "old", 0, c, pos), to = arg_string(a, "new", 1, c, pos);
    Value count = a.get("count", 2);
    int64_t limit = count.is_int() ? count.as_int() : -1;
    if (from.empty()) {
      if (!to.empty()) c.fail(pos, "replace with an empty pattern is not supported");
      return Value(v);
    }
    size_t hits = 0;
    for (size_t p = v.find(from); p != std::string::npos; p = v.find(from, p + from.size())) ++hits;
    if (limit >= 0) hits = std::min(hits, static_cast<size_t>(limit));
    if (to.size() > from.size()) c.check_string(v.size() + hits * (to.size() - from.size()), pos);
    std::string r;
    size_t p = 0, done = 0;
    for (size_t e; done < hits && (e = v.find(from, p)) != std::string::npos; ++done) {
      r.append(v, p, e - p);
      r += to;
      p = e + from.size();
    }
    r.append(v, p, std::string::npos);
    return Value(std::move(r));
  }
  if (name == "split") {
    Value maxsplit = a.get("maxsplit", 1);
    return split(v, a.get("sep", 0), maxsplit.is_int() ? maxsplit.as_int() : -1, c, pos);
  }
  if (name == "splitlines") {
    List out;
    size_t p = 0;
    while (p < v.size()) {
      size_t e = v.find_first_of("\r\n", p);
      if (e == std::string::npos) e = v.size();
      out.push_back(Value(v.substr(p, e - p)));
      p = e + (e + 1 < v.size() && v[e] == '\r' && v[e + 1] == '\n' ? 2 : 1);
    }
    return c.make_list(std::move(out), pos);
  }
  if (name == "join") {
    Value items = a.get("iterable", 0);
    std::string out;
    for (size_t i = 0; i < items.items().size(); ++i) {
      if (i) out += v;
      out += to_text(items.items()[i]);
      c.check_string(out.size(), pos);
    }
    return Value(std::move(out));
  }
  if (name == "find" || name == "count") {
    std::string sub = arg_string(a, "sub", 0, c, pos);
    if (name == "find") {
      size_t p = v.find(sub);
      return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(p));
    }
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(v) + 1));
    int64_t n = 0;
    for (size_t p = v.find(sub); p != std::string::npos; p = v.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    std::string x = arg_string(a, "affix", 0, c, pos);
    bool pre = name == "removeprefix";
    if (affix_match(v, Value(x), pre, c, pos))
      return Value(pre ? v.substr(x.size()) : v.substr(0, v.size() - x.size()));
    return Value(v);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum") {
    int (*f)(int) = name == "isdigit"   ? ::isdigit
                    : name == "isalpha" ? ::isalpha
                    : name == "isspace" ? ::isspace
                                        : ::isalnum;
    return Value(!v.empty() && std::all_of(v.begin(), v.end(), [f](char ch) {
      return f(static_cast<unsigned char>(ch)) != 0;
    }));
  }
  if (name == "isupper" || name == "islower") {
    bool cased = false, ok = true;
    for (unsigned char ch : v) {
      if (std::isupper(ch)) cased = true, ok = ok && name == "isupper";
      if (std::islower(ch)) cased = true, ok = ok && name == "islower";
    }
    return Value(cased && ok);
  }
  *found = false;
  return Value();
}

}  // namespace

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string strip_chars(const std::string& v, const std::string* chars, bool left, bool right) {
  const char* set = chars ? chars->c_str() : kWhitespace;
  size_t set_len = chars ? chars->size() : std::strlen(kWhitespace);
  auto in_set = [&](char ch) { return std::memchr(set, ch, set_len) != nullptr; };
  size_t b = 0, e = v.size();
  if (left)
    while (b < e && in_set(v[b])) ++b;
  if (right)
    while (e > b && in_set(v[e - 1])) --e;
  return v.substr(b, e - b);
}

Value call_method(const Value& obj, const std::string& name, const CallArgs& a, Context& c,
                  size_t pos) {
  if (obj.is_string()) {
    bool found = false;
    Value r = string_method(obj.str(), name, a, c, pos, &found);
    if (found) {
      if (r.is_string()) c.check_string(r.str().size(), pos);
      return r;
    }
  }
  if (obj.is_dict()) {
    if (name == "items" || name == "keys" || name == "values") {
      List out;
      for (const auto& [k, v] : obj.entries())
        out.push_back(name == "items" ? Value::list({Value(k), v}) : name == "keys" ? Value(k) : v);
      return c.make_list(std::move(out), pos);
    }
    if (name == "get") {
      Value key = a.get("key", 0);
      Value v = key.is_string() ? get_item(obj, key) : Value();
      if (!v.is_undefined()) return v;
      Value dflt = a.get("default", 1);
      return dflt.is_undefined() ? Value::none() : dflt;
    }
  }
  c.fail(pos, "unknown method '" + name + "' of " + obj.type_name());
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& a, Context& c,
                size_t pos) {
  auto arg = [&]() {
    if (a.positional.empty()) c.fail(pos, "test '" + name + "' needs an argument");
    return a.positional[0];
  };
  auto compare = [&](auto cmp) {
    Value o = arg();
    if (v.is_number() && o.is_number()) return cmp(v.as_double(), o.as_double());
    if (v.is_string() && o.is_string()) return cmp(v.str(), o.str());
    c.fail(pos, std::string("test '") + name + "' cannot compare " + v.type_name() + " and " +
                    o.type_name());
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.is_callable();
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    bool want_upper = name == "upper";
    return std::none_of(v.str().begin(), v.str().end(), [&](char ch) {
      return want_upper ? std::islower(static_cast<unsigned char>(ch))
                        : std::isupper(static_cast<unsigned char>(ch));
    });
  }
  if (name == "even" || name == "odd") {
    if (!v.is_int()) c.fail(pos, "test '" + name + "' needs an integer");
    return (v.as_int() % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    Value d = arg();
    if (!v.is_int() || !d.is_int() || d.as_int() == 0) return false;
    return v.as_int() % d.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==" || name == "sameas") return equal(v, arg());
  if (name == "ne" || name == "!=") return !equal(v, arg());
  if (name == "lt" || name == "lessthan") return compare([](auto x, auto y) { return x < y; });
  if (name == "le") return compare([](auto x, auto y) { return x <= y; });
  if (name == "gt" || name == "greaterthan") return compare([](auto x, auto y) { return x > y; });
  if (name == "ge") return compare([](auto x, auto y) { return x >= y; });
  if (name == "in") {
    Value seq = arg();
    if (seq.is_string()) return v.is_string() && seq.str().find(v.str()) != std::string::npos;
    if (seq.is_mapping()) return v.is_string() && seq.find(v.str());
    return std::any_of(seq.items().begin(), seq.items().end(),
                       [&](const Value& e) { return equal(e, v); });
  }
  c.fail(pos, "unknown test '" + name + "'");
}

const std::vector<std::string>& global_functions() {
  static const std::vector<std::string> names = {"range", "namespace", "raise_exception",
                                                 "strftime_now", "dict"};
  return names;
}

Value call_function(const std::string& name, const CallArgs& a, Context& c, size_t pos) {
  if (name == "raise_exception") {
    std::string msg = a.positional.empty() ? std::string() : to_text(a.positional[0]);
    c.fail(pos, "the template raised an error: " + msg);
  }
  if (name == "namespace" || name == "dict") {
    Dict d;
    if (!a.positional.empty() && a.positional[0].is_dict()) d = a.positional[0].entries();
    for (const auto& [k, v] : a.named) {
      auto it = std::find_if(d.begin(), d.end(), [&](const auto& e) { return e.first == k; });
      if (it != d.end())
        it->second = v;
      else
        d.emplace_back(k, v);
    }
    return name == "dict" ? Value::dict(std::move(d)) : Value::make_namespace(std::move(d));
  }
  if (name == "range") {
    for (const auto& v : a.positional)
      if (!v.is_int() && !v.is_bool()) c.fail(pos, "range() needs integers");
    int64_t start = 0, stop = 0, step = 1;
    size_t n = a.positional.size();
    if (n == 0 || n > 3) c.fail(pos, "range() takes 1 to 3 arguments");
    if (n == 1) stop = a.positional[0].as_int();
    if (n >= 2) start = a.positional[0].as_int(), stop = a.positional[1].as_int();
    if (n == 3) step = a.positional[2].as_int();
    if (step == 0) c.fail(pos, "range() step cannot be zero");
    // Count first, so that range(10**9) fails before it allocates anything.
    long double span = step > 0 ? (long double)stop - start : (long double)start - stop;
    long double len = span <= 0 ? 0 : std::ceil(span / std::abs((long double)step));
    if (len > c.limits.max_list_items) c.check_list(c.limits.max_list_items + 1, pos);
    List out;
    out.reserve(static_cast<size_t>(len));
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      out.push_back(Value(i));
      if (__builtin_add_overflow(i, step, &i)) break;
      i -= step;
    }
    return c.make_list(std::move(out), pos);
  }
  if (name == "strftime_now") {
    std::string fmt = arg_string(a, "format", 0, c, pos);
    if (fmt.size() > 256) c.fail(pos, "strftime_now: the format is over 256 bytes");
    std::tm now = c.clock();
    std::string buf(256 + fmt.size() * 8, '\0');
    size_t n = fmt.empty() ? 0 : std::strftime(buf.data(), buf.size(), fmt.c_str(), &now);
    if (n == 0 && !fmt.empty()) c.fail(pos, "strftime_now: cannot format '" + fmt + "'");
    buf.resize(n);
    return c.make_string(std::move(buf), pos);
  }
  c.fail(pos, "unknown function '" + name + "'");
}

}  // namespace hqq::jinja
