#pragma once
// The parsed template: expressions (evaluated by eval.cpp, with the built-ins of builtins.h) and
// statements (rendered by render.cpp).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/text/jinja/context.h"

namespace hqq::jinja {

struct Expr {
  size_t pos = 0;     // offset in the source, for errors
  size_t height = 1;  // of this subtree: bounded by the parser, so evaluating it and freeing it
                      // cannot exhaust the stack
  virtual ~Expr() = default;
  Value eval(Context& c) const {
    DepthGuard guard(c, pos);
    c.step(pos);
    return do_eval(c);
  }

 protected:
  virtual Value do_eval(Context& c) const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
};

// Arguments once evaluated.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  // The argument called `name`, else the positional one at `index`, else undefined.
  Value get(const std::string& name, size_t index) const;
};
CallArgs eval_args(const Args& a, Context& c);

struct Literal : Expr {
  Value value;
  Value do_eval(Context&) const override { return value; }
};
struct Var : Expr {
  std::string name;
  Value do_eval(Context& c) const override;
};
struct GetAttr : Expr {
  ExprPtr obj;
  std::string name;
  Value do_eval(Context& c) const override;
};
struct GetItem : Expr {
  ExprPtr obj, key;
  Value do_eval(Context& c) const override;
};
struct Slice : Expr {
  ExprPtr obj, start, stop, step;
  Value do_eval(Context& c) const override;
};
struct ListExpr : Expr {
  std::vector<ExprPtr> items;
  Value do_eval(Context& c) const override;
};
struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  Value do_eval(Context& c) const override;
};
struct Unary : Expr {
  char op = '-';  // '-', '+', '!' (not)
  ExprPtr e;
  Value do_eval(Context& c) const override;
};
enum class BinOp {
  Add,
  Sub,
  Mul,
  Div,
  FloorDiv,
  Mod,
  Pow,
  Concat,
  Eq,
  Ne,
  Lt,
  Gt,
  Le,
  Ge,
  In,
  NotIn,
  And,
  Or
};
struct Binary : Expr {
  BinOp op;
  std::string op_text;
  ExprPtr l, r;
  Value do_eval(Context& c) const override;
};
struct Ternary : Expr {
  ExprPtr cond, then, otherwise;  // otherwise may be null: undefined
  Value do_eval(Context& c) const override;
};
struct Call : Expr {
  ExprPtr callee;
  Args args;
  Value do_eval(Context& c) const override;
};
struct FilterExpr : Expr {
  ExprPtr e;
  std::string name;
  Args args;
  Value do_eval(Context& c) const override;
};
struct TestExpr : Expr {
  ExprPtr e;
  std::string name;
  bool negated = false;
  Args args;
  Value do_eval(Context& c) const override;
};

struct Node {
  size_t pos = 0;
  virtual ~Node() = default;
  void render(Context& c, std::string& out) const {
    DepthGuard guard(c, pos);
    c.step(pos);
    do_render(c, out);
  }

 protected:
  virtual void do_render(Context& c, std::string& out) const = 0;
};
using NodeList = std::vector<std::unique_ptr<Node>>;

// Renders nodes in order, stopping at a {% break %} or {% continue %}.
void render_all(const NodeList& nodes, Context& c, std::string& out);
// Appends rendered text, holding the output to Limits::max_output_bytes.
void emit(Context& c, std::string& out, const std::string& text, size_t pos);

struct TextNode : Node {
  std::string text;
  void do_render(Context& c, std::string& out) const override { emit(c, out, text, pos); }
};
struct OutputNode : Node {
  ExprPtr e;
  void do_render(Context& c, std::string& out) const override;
};
struct IfNode : Node {
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList otherwise;
  void do_render(Context& c, std::string& out) const override;
};
struct ForNode : Node {
  std::vector<std::string> vars;
  ExprPtr iterable, filter;
  NodeList body, otherwise;
  void do_render(Context& c, std::string& out) const override;
};
struct SetNode : Node {
  std::vector<std::string> names;  // "set a, b = pair" unpacks
  std::string attr;                // "set ns.attr = value"
  ExprPtr value;                   // null for a block set: the rendered body is the value
  NodeList body;
  void do_render(Context& c, std::string& out) const override;
};
struct LoopControlNode : Node {
  bool is_break = true;
  void do_render(Context& c, std::string&) const override {
    c.flow = is_break ? Context::Flow::Break : Context::Flow::Continue;
  }
};
struct MacroNode {
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default expression may be null
  NodeList body;
  size_t pos = 0;
};
struct MacroDefNode : Node {
  std::shared_ptr<const MacroNode> macro;
  void do_render(Context& c, std::string&) const override {
    c.set(macro->name, Value::macro(macro));
  }
};

// Calls a macro with evaluated arguments; returns what its body renders.
Value call_macro(const MacroNode& m, const CallArgs& args, Context& c, size_t pos);

}  // namespace hqq::jinja
