// Rendering of statements: output, if, for (with Jinja's loop variable and scoping), set,
// macros, break/continue.
#include <algorithm>

#include "core/text/jinja/ast.h"
#include "core/text/jinja/builtins.h"

namespace hqq::jinja {

void emit(Context& c, std::string& out, const std::string& text, size_t pos) {
  if (out.size() + text.size() > c.limits.max_output_bytes)
    c.over(pos, "rendered more than " + Context::count(c.limits.max_output_bytes) + " bytes");
  out += text;
}

void render_all(const NodeList& nodes, Context& c, std::string& out) {
  for (const auto& n : nodes) {
    n->render(c, out);
    if (c.flow != Context::Flow::Normal) return;
  }
}

void OutputNode::do_render(Context& c, std::string& out) const {
  emit(c, out, to_text(e->eval(c)), pos);
}

void IfNode::do_render(Context& c, std::string& out) const {
  for (const auto& [cond, body] : branches)
    if (truthy(cond->eval(c))) return render_all(body, c, out);
  render_all(otherwise, c, out);
}

namespace {

// A new scope for as long as it lives.
class ScopeGuard {
 public:
  explicit ScopeGuard(Context& c) : c_(c) { c_.frames.emplace_back(); }
  ~ScopeGuard() { c_.frames.pop_back(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  Context& c_;
};

void bind_names(Context& c, const std::vector<std::string>& vars, const Value& item, size_t pos) {
  if (vars.size() == 1) return c.set(vars[0], item);
  if (!item.is_list() || item.size() != vars.size())
    c.fail(pos, "cannot unpack " + std::string(item.type_name()) + " into " +
                    std::to_string(vars.size()) + " names");
  for (size_t k = 0; k < vars.size(); ++k) c.set(vars[k], item.items()[k]);
}

}  // namespace

void ForNode::do_render(Context& c, std::string& out) const {
  Value seq = iterable->eval(c);
  List own;  // the items when they are not a list already (kept alive by `seq` otherwise)
  const List* items = &own;
  if (seq.is_list()) {
    items = &seq.items();
  } else if (seq.is_mapping()) {
    c.check_list(seq.size(), pos);
    for (const auto& [k, v] : seq.entries()) own.push_back(Value(k));
  } else if (seq.is_string()) {
    c.check_list(seq.size(), pos);
    for (auto& ch : utf8_chars(seq.str())) own.push_back(Value(std::move(ch)));
  } else if (!seq.is_undefined()) {
    c.fail(pos, std::string("cannot iterate over a ") + seq.type_name());
  }
  if (filter) {  // "for x in xs if cond": the loop counters see only the kept items
    List kept;
    for (const auto& item : *items) {
      c.step(pos);
      ScopeGuard scope(c);
      bind_names(c, vars, item, pos);
      if (truthy(filter->eval(c))) kept.push_back(item);
    }
    own = std::move(kept);
    items = &own;
  }
  if (items->empty()) return render_all(otherwise, c, out);
  const int64_t n = static_cast<int64_t>(items->size());
  for (int64_t i = 0; i < n; ++i) {
    c.step(pos);  // an iteration counts even when its body is empty
    ScopeGuard scope(c);
    bind_names(c, vars, (*items)[static_cast<size_t>(i)], pos);
    Dict loop;
    loop.reserve(11);
    loop.emplace_back("index", Value(i + 1));
    loop.emplace_back("index0", Value(i));
    loop.emplace_back("revindex", Value(n - i));
    loop.emplace_back("revindex0", Value(n - i - 1));
    loop.emplace_back("first", Value(i == 0));
    loop.emplace_back("last", Value(i == n - 1));
    loop.emplace_back("length", Value(n));
    loop.emplace_back("depth", Value(int64_t{1}));
    loop.emplace_back("depth0", Value(int64_t{0}));
    if (i > 0) loop.emplace_back("previtem", (*items)[static_cast<size_t>(i - 1)]);
    if (i + 1 < n) loop.emplace_back("nextitem", (*items)[static_cast<size_t>(i + 1)]);
    c.set("loop", Value::dict(std::move(loop)));
    render_all(body, c, out);
    if (c.flow == Context::Flow::Break) {
      c.flow = Context::Flow::Normal;
      break;
    }
    c.flow = Context::Flow::Normal;
  }
}

void SetNode::do_render(Context& c, std::string&) const {
  Value v;
  if (value) {
    v = value->eval(c);
  } else {
    std::string text;
    render_all(body, c, text);
    v = Value(std::move(text));
  }
  if (!attr.empty()) {
    Value* target = c.find(names[0]);
    if (!target || !target->is_namespace())
      c.fail(pos, "cannot assign to an attribute of '" + names[0] + "': not a namespace()");
    Dict& ns = target->namespace_entries();
    auto it = std::find_if(ns.begin(), ns.end(), [&](const auto& e) { return e.first == attr; });
    if (it != ns.end()) {
      it->second = std::move(v);
    } else {
      c.check_list(ns.size() + 1, pos);
      ns.emplace_back(attr, std::move(v));
    }
    return;
  }
  bind_names(c, names, v, pos);
}

Value call_macro(const MacroNode& m, const CallArgs& args, Context& c, size_t pos) {
  if (c.macro_depth >= c.limits.max_macro_depth)
    c.over(pos, "macro '" + m.name + "' called more than " +
                    Context::count(c.limits.max_macro_depth) + " deep (runaway recursion?)");
  // Evaluate defaults and bind arguments in a fresh scope that sees only the globals.
  const size_t saved_base = c.base;
  c.frames.emplace_back();
  c.base = c.frames.size() - 1;
  ++c.macro_depth;
  struct Restore {
    Context& c;
    size_t base;
    ~Restore() {
      --c.macro_depth;
      c.frames.pop_back();
      c.base = base;
      c.flow = Context::Flow::Normal;
    }
  } restore{c, saved_base};
  List varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < m.params.size())
      c.set(m.params[i].first, args.positional[i]);
    else
      varargs.push_back(args.positional[i]);
  }
  Dict kwargs;
  for (const auto& [n, v] : args.named) {
    bool is_param =
        std::any_of(m.params.begin(), m.params.end(), [&](const auto& p) { return p.first == n; });
    if (is_param)
      c.set(n, v);
    else
      kwargs.emplace_back(n, v);
  }
  for (const auto& [n, def] : m.params)
    if (!c.frames.back().count(n)) c.set(n, def ? def->eval(c) : Value());
  c.set("varargs", Value::list(std::move(varargs)));
  c.set("kwargs", Value::dict(std::move(kwargs)));
  std::string out;
  render_all(m.body, c, out);
  return Value(std::move(out));
}

}  // namespace hqq::jinja
