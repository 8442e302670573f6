// Filters (x|trim, x|tojson(indent=4), ...). tojson is transformers' own: json.dumps with
// ensure_ascii=False, so that non-ASCII text and key order come out as Python writes them.
#include <algorithm>
#include <cmath>

#include "core/text/jinja/builtins.h"

namespace hqq::jinja {

namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// Jinja's title filter: upper case after whitespace, '-', or an opening bracket.
std::string jinja_title(const std::string& v) {
  std::string r = v;
  bool start = true;
  for (char& ch : r) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (std::isspace(u) || ch == '-' || ch == '(' || ch == '{' || ch == '[' || ch == '<') {
      start = true;
      continue;
    }
    ch = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = false;
  }
  return r;
}

// "a.b.0" attribute paths, as selectattr/map/sort/sum take them.
Value attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t p = 0;
  while (p <= path.size()) {
    size_t e = path.find('.', p);
    std::string part = path.substr(p, e == std::string::npos ? std::string::npos : e - p);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = get_item(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (e == std::string::npos) break;
    p = e + 1;
  }
  return cur;
}

List iterate(const Value& v, Context& c, size_t pos) {
  if (v.is_list()) return v.items();
  List out;
  if (v.is_dict())
    for (const auto& [k, e] : v.entries()) out.push_back(Value(k));
  else if (v.is_string())
    for (auto& ch : utf8_chars(v.str())) out.push_back(Value(std::move(ch)));
  else if (!v.is_undefined())
    c.fail(pos, std::string("a ") + v.type_name() + " is not iterable");
  return out;
}

// Python ordering for sort/min/max: numbers by value, strings bytewise.
bool less(const Value& a, const Value& b, bool case_sensitive, Context& c, size_t pos) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) return a.str() < b.str();
    std::string x = a.str(), y = b.str();
    for (char& ch : x) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (char& ch : y) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return x < y;
  }
  c.fail(pos, std::string("cannot order ") + a.type_name() + " and " + b.type_name());
}

Value to_json_filter(const Value& v, const CallArgs& a, Context& c, size_t pos) {
  JsonStyle style;
  Value indent = a.get("indent", 1);
  if (indent.is_int()) {
    if (indent.as_int() < 0 || indent.as_int() > 64) c.fail(pos, "tojson: indent must be 0-64");
    style.indent = static_cast<int>(indent.as_int());
  } else if (!indent.is_undefined() && !indent.is_none()) {
    c.fail(pos, "tojson: indent must be an integer");
  }
  style.item_sep = style.indent < 0 ? ", " : ",";
  style.key_sep = ": ";
  Value seps = a.get("separators", 2);
  if (seps.is_list() && seps.size() == 2 && seps.items()[0].is_string() &&
      seps.items()[1].is_string()) {
    style.item_sep = seps.items()[0].str();
    style.key_sep = seps.items()[1].str();
  } else if (!seps.is_undefined() && !seps.is_none()) {
    c.fail(pos, "tojson: separators must be two strings");
  }
  style.sort_keys = truthy(a.get("sort_keys", 3));
  std::string out;
  if (!to_json_text(v, style, out))
    c.fail(pos, std::string("tojson: a ") + v.type_name() + " is not JSON serializable");
  return c.make_string(std::move(out), pos);
}

}  // namespace

Value apply_filter(const std::string& name, const Value& v, const CallArgs& a, Context& c,
                   size_t pos) {
  auto text_arg = [&](const std::string& n, size_t i, const std::string& dflt) {
    Value x = a.get(n, i);
    return x.is_undefined() ? dflt : to_text(x);
  };
  if (name == "trim") {
    Value chars = a.get("chars", 0);
    std::string set = chars.is_string() ? chars.str() : std::string();
    return Value(strip_chars(to_text(v), chars.is_string() ? &set : nullptr, true, true));
  }
  if (name == "length" || name == "count")
    return Value(static_cast<int64_t>(v.is_string() ? utf8_length(v.str()) : v.size()));
  if (name == "upper" || name == "lower" || name == "capitalize")
    return call_method(Value(to_text(v)), name, {}, c, pos);
  if (name == "title") return Value(jinja_title(to_text(v)));
  if (name == "string") return c.make_string(to_text(v), pos);
  if (name == "safe") return v;
  if (name == "e" || name == "escape" || name == "forceescape")
    return c.make_string(html_escape(to_text(v)), pos);
  if (name == "tojson") return to_json_filter(v, a, c, pos);
  if (name == "default" || name == "d") {
    bool use_default = truthy(a.get("boolean", 1)) ? !truthy(v) : v.is_undefined();
    if (!use_default) return v;
    Value d = a.get("default_value", 0);
    return d.is_undefined() ? Value("") : d;
  }
  if (name == "first" || name == "last") {
    List items = iterate(v, c, pos);
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    std::string sep = text_arg("d", 0, ""), out;
    Value attr = a.get("attribute", 1);
    List items = iterate(v, c, pos);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += sep;
      out += to_text(attr.is_undefined() ? items[i] : attribute_path(items[i], to_text(attr)));
      c.check_string(out.size(), pos);
    }
    return Value(std::move(out));
  }
  if (name == "int") {
    if (v.is_number()) return Value(v.as_int());
    try {
      size_t used = 0;
      std::string s = strip_chars(to_text(v), nullptr, true, true);
      int64_t r = std::stoll(s, &used);
      if (used == s.size()) return Value(r);
    } catch (const std::exception&) {
    }
    Value d = a.get("default", 0);
    return d.is_undefined() ? Value(int64_t{0}) : d;
  }
  if (name == "float") {
    if (v.is_number()) return Value(v.as_double());
    try {
      return Value(std::stod(to_text(v)));
    } catch (const std::exception&) {
      Value d = a.get("default", 0);
      return d.is_undefined() ? Value(0.0) : d;
    }
  }
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    c.fail(pos, std::string("abs of a ") + v.type_name());
  }
  if (name == "round") {
    Value prec = a.get("precision", 0);
    std::string method = text_arg("method", 1, "common");
    double scale = std::pow(10.0, prec.is_int() ? static_cast<double>(prec.as_int()) : 0.0);
    double x = v.as_double() * scale;
    x = method == "floor"  ? std::floor(x)
        : method == "ceil" ? std::ceil(x)
                           : std::nearbyint(x);  // Python: half to even
    return Value(x / scale);
  }
  if (name == "list") return c.make_list(iterate(v, c, pos), pos);
  if (name == "items") {
    if (!v.is_mapping() && !v.is_undefined()) c.fail(pos, "items needs a mapping");
    return v.is_undefined() ? Value::list({})
                            : call_method(Value::dict(v.entries()), "items", {}, c, pos);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string> chars = utf8_chars(v.str());
      std::string r;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) r += *it;
      return Value(std::move(r));
    }
    List items = iterate(v, c, pos);
    std::reverse(items.begin(), items.end());
    return c.make_list(std::move(items), pos);
  }
  if (name == "replace") return call_method(Value(to_text(v)), "replace", a, c, pos);
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    bool by_attr = name == "selectattr" || name == "rejectattr";
    bool keep_pass = name == "selectattr" || name == "select";
    size_t first = by_attr ? 1 : 0;  // where the test name is
    if (by_attr && (a.positional.empty() || !a.positional[0].is_string()))
      c.fail(pos, name + " needs an attribute name");
    CallArgs test_args;
    for (size_t i = first + 1; i < a.positional.size(); ++i)
      test_args.positional.push_back(a.positional[i]);
    List out;
    for (const auto& item : iterate(v, c, pos)) {
      Value x = by_attr ? attribute_path(item, a.positional[0].str()) : item;
      bool pass = a.positional.size() > first
                      ? apply_test(to_text(a.positional[first]), x, test_args, c, pos)
                      : truthy(x);
      if (pass == keep_pass) out.push_back(item);
    }
    return c.make_list(std::move(out), pos);
  }
  if (name == "map") {
    List out;
    Value attr = a.get("attribute", 99);
    for (const auto& item : iterate(v, c, pos)) {
      if (!attr.is_undefined()) {
        Value x = attribute_path(item, to_text(attr));
        Value d = a.get("default", 99);
        out.push_back(x.is_undefined() && !d.is_undefined() ? d : x);
      } else {
        if (a.positional.empty()) c.fail(pos, "map needs a filter name or attribute=");
        CallArgs rest;
        rest.positional.assign(a.positional.begin() + 1, a.positional.end());
        rest.named = a.named;
        out.push_back(apply_filter(to_text(a.positional[0]), item, rest, c, pos));
      }
    }
    return c.make_list(std::move(out), pos);
  }
  if (name == "unique") {
    List out;
    for (const auto& item : iterate(v, c, pos))
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equal(o, item); }))
        out.push_back(item);
    return c.make_list(std::move(out), pos);
  }
  if (name == "sort" || name == "min" || name == "max" || name == "dictsort") {
    bool dictsort = name == "dictsort";
    bool case_sensitive = truthy(a.get("case_sensitive", dictsort ? 0 : 1));
    Value attr = a.get("attribute", dictsort ? 99 : 2);
    bool rev = truthy(a.get("reverse", dictsort ? 2 : 0));
    List items = dictsort ? call_method(Value::dict(v.entries()), "items", {}, c, pos).items()
                          : iterate(v, c, pos);
    auto key = [&](const Value& x) {
      if (dictsort) return x.items()[truthy(a.get("by", 1)) && to_text(a.get("by", 1)) == "value"];
      return attr.is_undefined() ? x : attribute_path(x, to_text(attr));
    };
    auto cmp = [&](const Value& x, const Value& y) {
      return less(key(x), key(y), case_sensitive, c, pos);
    };
    if (name == "min" || name == "max") {
      if (items.empty()) return Value();
      return name == "min" ? *std::min_element(items.begin(), items.end(), cmp)
                           : *std::max_element(items.begin(), items.end(), cmp);
    }
    std::stable_sort(items.begin(), items.end(), cmp);
    if (rev) std::reverse(items.begin(), items.end());
    return c.make_list(std::move(items), pos);
  }
  if (name == "sum") {
    Value attr = a.get("attribute", 0);
    Value total = a.get("start", 1);
    if (total.is_undefined()) total = Value(int64_t{0});
    for (const auto& item : iterate(v, c, pos)) {
      Value x = attr.is_undefined() ? item : attribute_path(item, to_text(attr));
      if (!x.is_number() || !total.is_number()) c.fail(pos, "sum needs numbers");
      total = total.is_float() || x.is_float() ? Value(total.as_double() + x.as_double())
                                               : Value(total.as_int() + x.as_int());
    }
    return total;
  }
  if (name == "indent") {
    Value w = a.get("width", 0);
    if (w.is_int() && (w.as_int() < 0 || w.as_int() > 256)) c.fail(pos, "indent: width 0-256");
    std::string pad = w.is_string() ? w.str() : std::string(w.is_int() ? w.as_int() : 4, ' ');
    bool first = truthy(a.get("first", 1)), blank = truthy(a.get("blank", 2));
    std::string s = to_text(v), out;
    size_t p = 0, line = 0;
    while (p <= s.size()) {
      size_t e = s.find('\n', p);
      std::string ln = s.substr(p, e == std::string::npos ? std::string::npos : e - p);
      if ((line > 0 || first) && (blank || !ln.empty())) out += pad;
      out += ln;
      c.check_string(out.size(), pos);
      if (e == std::string::npos) break;
      out += '\n';
      p = e + 1;
      ++line;
    }
    return Value(std::move(out));
  }
  if (name == "wordcount") {
    int64_t n = static_cast<int64_t>(call_method(Value(to_text(v)), "split", {}, c, pos).size());
    return Value(n);
  }
  if (name == "attr") return get_item(v, a.get("name", 0));
  c.fail(pos, "unknown filter '" + name + "'");
}

}  // namespace hqq::jinja
