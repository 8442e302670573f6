// Evaluation of expressions, with Python's arithmetic (floor division, modulo sign, true
// division, overflow reported instead of wrapping).
#include <algorithm>
#include <cmath>

#include "core/text/jinja/ast.h"
#include "core/text/jinja/builtins.h"

namespace hqq::jinja {

Value CallArgs::get(const std::string& name, size_t index) const {
  for (const auto& [n, v] : named)
    if (n == name) return v;
  return index < positional.size() ? positional[index] : Value();
}

CallArgs eval_args(const Args& a, Context& c) {
  CallArgs out;
  out.positional.reserve(a.positional.size());
  for (const auto& e : a.positional) out.positional.push_back(e->eval(c));
  for (const auto& [n, e] : a.named) out.named.emplace_back(n, e->eval(c));
  return out;
}

Value Var::do_eval(Context& c) const {
  return c.lookup(name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_mapping() && key.is_string()) {
    const Value* v = obj.find(key.str());
    return v ? *v : Value();
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t n = static_cast<int64_t>(obj.size()), i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value();
    if (obj.is_list()) return obj.items()[static_cast<size_t>(i)];
    std::vector<std::string> chars = utf8_chars(obj.str());
    if (static_cast<int64_t>(chars.size()) != n) {  // not ASCII: index code points
      i = key.as_int() < 0 ? key.as_int() + static_cast<int64_t>(chars.size()) : key.as_int();
      if (i < 0 || i >= static_cast<int64_t>(chars.size())) return Value();
    }
    return Value(chars[static_cast<size_t>(i)]);
  }
  return Value();
}

namespace {
// Jinja (and so transformers) refuses to look into an undefined value: `x.y` with x undefined is
// an error, while `x` alone prints nothing and `none.y` is undefined.
Value object_of(const ExprPtr& obj, Context& c, size_t pos) {
  Value v = obj->eval(c);
  if (v.is_undefined()) {
    const auto* var = dynamic_cast<const Var*>(obj.get());
    const auto* attr = dynamic_cast<const GetAttr*>(obj.get());
    c.fail(pos, var    ? "'" + var->name + "' is undefined"
                : attr ? "'" + attr->name + "' is undefined"
                       : std::string("subscript of an undefined value"));
  }
  return v;
}
}  // namespace

Value GetAttr::do_eval(Context& c) const {
  return get_item(object_of(obj, c, pos), Value(name));
}

Value GetItem::do_eval(Context& c) const {
  Value o = object_of(obj, c, pos);
  return get_item(o, key->eval(c));
}

Value Slice::do_eval(Context& c) const {
  Value v = obj->eval(c);
  if (!v.is_list() && !v.is_string()) c.fail(pos, std::string("cannot slice ") + v.type_name());
  auto int_of = [&](const ExprPtr& e, int64_t dflt) {
    if (!e) return dflt;
    Value x = e->eval(c);
    if (x.is_none() || x.is_undefined()) return dflt;
    if (!x.is_int() && !x.is_bool()) c.fail(e->pos, "slice indices must be integers");
    return x.as_int();
  };
  std::vector<std::string> chars;
  if (v.is_string()) chars = utf8_chars(v.str());
  const int64_t n = static_cast<int64_t>(v.is_string() ? chars.size() : v.size());
  const int64_t st = int_of(step, 1);
  if (st == 0) c.fail(pos, "slice step cannot be zero");
  auto clamp = [n, st](int64_t i) {
    if (i < 0) i += n;
    return st > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
  };
  int64_t a = start ? clamp(int_of(start, 0)) : (st > 0 ? 0 : n - 1);
  int64_t b = stop ? clamp(int_of(stop, 0)) : (st > 0 ? n : -1);
  if (stop && st < 0 && int_of(stop, 0) < -n) b = -1;
  if (v.is_string()) {
    std::string out;
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) out += chars[static_cast<size_t>(i)];
    return c.make_string(std::move(out), pos);
  }
  List out;
  for (int64_t i = a; st > 0 ? i < b : i > b; i += st)
    out.push_back(v.items()[static_cast<size_t>(i)]);
  return c.make_list(std::move(out), pos);
}

Value ListExpr::do_eval(Context& c) const {
  List out;
  out.reserve(items.size());
  for (const auto& e : items) out.push_back(e->eval(c));
  return c.make_list(std::move(out), pos);
}

Value DictExpr::do_eval(Context& c) const {
  Dict out;
  for (const auto& [k, v] : items) {
    std::string key = to_text(k->eval(c));
    Value val = v->eval(c);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == key; });
    if (it != out.end())
      it->second = std::move(val);
    else
      out.emplace_back(std::move(key), std::move(val));
  }
  c.check_list(out.size(), pos);
  Value d = Value::dict(std::move(out));
  c.check_depth_of(d, pos);
  return d;
}

Value Unary::do_eval(Context& c) const {
  Value v = e->eval(c);
  if (op == '!') return Value(!truthy(v));
  if (v.is_float()) return Value(op == '-' ? -v.as_double() : v.as_double());
  if (v.is_int() || v.is_bool()) {
    int64_t x = v.as_int();
    if (op == '-' && x == INT64_MIN) c.fail(pos, "integer overflow");
    return Value(op == '-' ? -x : x);
  }
  c.fail(pos, std::string("bad operand type for unary ") + op + ": " + v.type_name());
}

namespace {

bool contains(const Value& container, const Value& item, Context& c, size_t pos) {
  if (container.is_string()) {
    if (!item.is_string()) c.fail(pos, "'in <string>' requires a string on the left");
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const auto& e : container.items())
      if (equal(e, item)) return true;
    return false;
  }
  if (container.is_mapping()) return item.is_string() && container.find(item.str()) != nullptr;
  if (container.is_undefined()) return false;
  c.fail(pos, std::string("argument of type ") + container.type_name() + " is not iterable");
}

Value repeat(const Value& seq, int64_t times, Context& c, size_t pos) {
  size_t n = times < 0 ? 0 : static_cast<size_t>(times);
  if (seq.is_string()) {
    if (n && seq.str().size() > c.limits.max_string_bytes / n) c.check_string(SIZE_MAX, pos);
    c.check_string(seq.str().size() * n, pos);
    std::string out;
    out.reserve(seq.str().size() * n);
    for (size_t i = 0; i < n; ++i) out += seq.str();
    return Value(std::move(out));
  }
  if (n && seq.items().size() > c.limits.max_list_items / n) c.check_list(SIZE_MAX, pos);
  List out;
  for (size_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return c.make_list(std::move(out), pos);
}

Value int_pow(int64_t x, int64_t y, Context& c, size_t pos) {
  if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
  int64_t r = 1;
  for (int64_t k = 0; k < y; ++k) {
    if (r == 0 || (r == 1 && (x == 0 || x == 1))) return Value(x == 0 ? int64_t{0} : int64_t{1});
    if (__builtin_mul_overflow(r, x, &r)) c.fail(pos, "integer overflow in **");
  }
  return Value(r);
}

}  // namespace

Value Binary::do_eval(Context& c) const {
  if (op == BinOp::And) {
    Value a = l->eval(c);
    return truthy(a) ? r->eval(c) : a;
  }
  if (op == BinOp::Or) {
    Value a = l->eval(c);
    return truthy(a) ? a : r->eval(c);
  }
  Value a = l->eval(c), b = r->eval(c);
  switch (op) {
    case BinOp::Concat: {
      std::string x = to_text(a), y = to_text(b);
      c.check_string(x.size() + y.size(), pos);
      return Value(x + y);
    }
    case BinOp::Eq:
      return Value(equal(a, b));
    case BinOp::Ne:
      return Value(!equal(a, b));
    case BinOp::In:
      return Value(contains(b, a, c, pos));
    case BinOp::NotIn:
      return Value(!contains(b, a, c, pos));
    default:
      break;
  }
  if (op == BinOp::Add && a.is_string() && b.is_string()) {
    c.check_string(a.str().size() + b.str().size(), pos);
    return Value(a.str() + b.str());
  }
  if (op == BinOp::Add && a.is_list() && b.is_list()) {
    c.check_list(a.size() + b.size(), pos);
    List out = a.items();
    out.insert(out.end(), b.items().begin(), b.items().end());
    return c.make_list(std::move(out), pos);
  }
  if (op == BinOp::Mul && (a.is_string() || a.is_list()) && (b.is_int() || b.is_bool()))
    return repeat(a, b.as_int(), c, pos);
  if (op == BinOp::Mul && (b.is_string() || b.is_list()) && (a.is_int() || a.is_bool()))
    return repeat(b, a.as_int(), c, pos);
  if (a.is_string() && b.is_string()) {
    const std::string &x = a.str(), &y = b.str();
    switch (op) {
      case BinOp::Lt:
        return Value(x < y);
      case BinOp::Gt:
        return Value(x > y);
      case BinOp::Le:
        return Value(x <= y);
      case BinOp::Ge:
        return Value(x >= y);
      default:
        break;
    }
  }
  if (!a.is_number() || !b.is_number())
    c.fail(pos, "unsupported operand types for " + op_text + ": " + a.type_name() + " and " +
                    b.type_name());
  if (!a.is_float() && !b.is_float()) {
    int64_t x = a.as_int(), y = b.as_int(), res = 0;
    switch (op) {
      case BinOp::Add:
        if (__builtin_add_overflow(x, y, &res)) c.fail(pos, "integer overflow");
        return Value(res);
      case BinOp::Sub:
        if (__builtin_sub_overflow(x, y, &res)) c.fail(pos, "integer overflow");
        return Value(res);
      case BinOp::Mul:
        if (__builtin_mul_overflow(x, y, &res)) c.fail(pos, "integer overflow");
        return Value(res);
      case BinOp::Pow:
        return int_pow(x, y, c, pos);
      case BinOp::FloorDiv:
      case BinOp::Mod: {
        if (y == 0) c.fail(pos, "division by zero");
        if (x == INT64_MIN && y == -1) c.fail(pos, "integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
          q -= 1;
          m += y;
        }
        return Value(op == BinOp::FloorDiv ? q : m);
      }
      case BinOp::Lt:
        return Value(x < y);
      case BinOp::Gt:
        return Value(x > y);
      case BinOp::Le:
        return Value(x <= y);
      case BinOp::Ge:
        return Value(x >= y);
      default:
        break;
    }
  }
  double x = a.as_double(), y = b.as_double();
  switch (op) {
    case BinOp::Add:
      return Value(x + y);
    case BinOp::Sub:
      return Value(x - y);
    case BinOp::Mul:
      return Value(x * y);
    case BinOp::Div:
      if (y == 0) c.fail(pos, "division by zero");
      return Value(x / y);
    case BinOp::FloorDiv:
      if (y == 0) c.fail(pos, "division by zero");
      return Value(std::floor(x / y));
    case BinOp::Mod:
      if (y == 0) c.fail(pos, "division by zero");
      return Value(x - y * std::floor(x / y));
    case BinOp::Pow:
      return Value(std::pow(x, y));
    case BinOp::Lt:
      return Value(x < y);
    case BinOp::Gt:
      return Value(x > y);
    case BinOp::Le:
      return Value(x <= y);
    case BinOp::Ge:
      return Value(x >= y);
    default:
      c.fail(pos, "unknown operator " + op_text);
  }
}

Value Ternary::do_eval(Context& c) const {
  if (truthy(cond->eval(c))) return then->eval(c);
  return otherwise ? otherwise->eval(c) : Value();
}

Value Call::do_eval(Context& c) const {
  if (auto* attr = dynamic_cast<const GetAttr*>(callee.get())) {
    Value obj = attr->obj->eval(c);
    const Value* member = obj.is_mapping() ? obj.find(attr->name) : nullptr;
    if (!member || !member->is_callable())
      return call_method(obj, attr->name, eval_args(args, c), c, pos);
  }
  Value f = callee->eval(c);
  CallArgs a = eval_args(args, c);
  if (f.kind() == Value::Kind::Function) return call_function(f.str(), a, c, pos);
  if (f.kind() == Value::Kind::Macro) return call_macro(f.macro_node(), a, c, pos);
  auto* var = dynamic_cast<const Var*>(callee.get());
  if (var && f.is_undefined()) c.fail(pos, "'" + var->name + "' is undefined");
  c.fail(pos, std::string("a ") + f.type_name() + " cannot be called");
}

Value FilterExpr::do_eval(Context& c) const {
  Value v = e->eval(c);
  return apply_filter(name, v, eval_args(args, c), c, pos);
}

Value TestExpr::do_eval(Context& c) const {
  bool r = apply_test(name, e->eval(c), eval_args(args, c), c, pos);
  return Value(negated ? !r : r);
}

}  // namespace hqq::jinja
