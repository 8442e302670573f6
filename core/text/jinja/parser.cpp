#include "core/text/jinja/parser.h"

#include <algorithm>
#include <charconv>

#include "core/text/jinja/lexer.h"

namespace hqq::jinja {

namespace {

// Counts one level of nesting for as long as it lives.
class Nesting {
 public:
  Nesting(size_t& depth, const Source& src, const Limits& limits, size_t pos, const char* what)
      : depth_(depth) {
    if (++depth_ > limits.max_nesting)
      src.fail(pos, std::string("over the template engine's limit: ") + what +
                        " nested more than " + std::to_string(limits.max_nesting) + " deep");
  }
  ~Nesting() { --depth_; }

 private:
  size_t& depth_;
};

const std::pair<const char*, BinOp> kCompare[] = {{"==", BinOp::Eq}, {"!=", BinOp::Ne},
                                                  {"<=", BinOp::Le}, {">=", BinOp::Ge},
                                                  {"<", BinOp::Lt},  {">", BinOp::Gt}};

class ExprParser {
 public:
  ExprParser(const Source& src, const Limits& limits, std::vector<Token> toks)
      : src_(src), limits_(limits), t_(std::move(toks)) {}

  ExprPtr parse_expression() {
    Nesting n(depth_, src_, limits_, peek().pos, "expressions");
    return parse_ternary();
  }
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().type == Tok::End; }
  Token next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const {
    return peek(k).type == Tok::Op && peek(k).text == op;
  }
  bool is_name(const char* n, size_t k = 0) const {
    return peek(k).type == Tok::Name && peek(k).text == n;
  }
  bool accept_op(const char* op) { return is_op(op) ? (++i_, true) : false; }
  bool accept_name(const char* n) { return is_name(n) ? (++i_, true) : false; }
  void expect_op(const char* op) {
    if (!accept_op(op)) src_.fail(peek().pos, std::string("expected '") + op + "'");
  }
  std::string expect_name() {
    if (peek().type != Tok::Name) src_.fail(peek().pos, "expected a name");
    return next().text;
  }
  void expect_end() {
    if (!at_end()) src_.fail(peek().pos, "unexpected '" + peek().text + "'");
  }
  // "e, f, ..." after its first item: a tuple, held as a list.
  ExprPtr parse_tuple_rest(ExprPtr first) {
    std::vector<ExprPtr> items;
    size_t pos = first->pos;
    items.push_back(std::move(first));
    while (accept_op(",") && !at_end()) items.push_back(parse_expression());
    return list_of(std::move(items), pos);
  }
  Args parse_args() {  // after '('
    Args a;
    if (accept_op(")")) return a;
    do {
      if (is_op(")")) break;
      if (peek().type == Tok::Name && is_op("=", 1)) {
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

 private:
  template <typename T>
  std::unique_ptr<T> make(size_t pos) {
    auto e = std::make_unique<T>();
    e->pos = pos;
    return e;
  }
  // Sets e's height from its children's; a long left-leaning chain counts as deep.
  template <typename T>
  std::unique_ptr<T> sized(std::unique_ptr<T>&& e, std::initializer_list<const Expr*> kids,
                           const Args* args = nullptr) {
    size_t h = 0;
    for (const Expr* k : kids)
      if (k) h = std::max(h, k->height);
    if (args) {
      for (const auto& a : args->positional) h = std::max(h, a->height);
      for (const auto& [n, a] : args->named) h = std::max(h, a->height);
    }
    e->height = h + 1;
    if (e->height > limits_.max_expression_height)
      src_.fail(e->pos, "over the template engine's limit: an expression more than " +
                            std::to_string(limits_.max_expression_height) + " operations deep");
    return std::move(e);
  }
  ExprPtr binary(BinOp op, std::string text, ExprPtr l, ExprPtr r, size_t pos) {
    auto b = make<Binary>(pos);
    b->op = op;
    b->op_text = std::move(text);
    b->l = std::move(l);
    b->r = std::move(r);
    return sized(std::move(b), {b->l.get(), b->r.get()});
  }

  ExprPtr parse_ternary() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      auto t = make<Ternary>(next().pos);
      t->then = std::move(e);
      t->cond = parse_or();
      if (accept_name("else")) t->otherwise = parse_expression();
      e = sized(std::move(t), {t->then.get(), t->cond.get(), t->otherwise.get()});
    }
    return e;
  }
  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      size_t pos = next().pos;
      l = binary(BinOp::Or, "or", std::move(l), parse_and(), pos);
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      size_t pos = next().pos;
      l = binary(BinOp::And, "and", std::move(l), parse_not(), pos);
    }
    return l;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      Nesting n(depth_, src_, limits_, peek().pos, "expressions");
      auto u = make<Unary>(next().pos);
      u->op = '!';
      u->e = parse_not();
      return sized(std::move(u), {u->e.get()});
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr l = parse_math1();
    for (;;) {
      size_t pos = peek().pos;
      bool matched = false;
      for (const auto& [text, op] : kCompare) {
        if (is_op(text)) {
          next();
          l = binary(op, text, std::move(l), parse_math1(), pos);
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (is_name("in")) {
        next();
        l = binary(BinOp::In, "in", std::move(l), parse_math1(), pos);
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        l = binary(BinOp::NotIn, "not in", std::move(l), parse_math1(), pos);
      } else {
        return l;
      }
    }
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      Token t = next();
      l = binary(t.text == "+" ? BinOp::Add : BinOp::Sub, t.text, std::move(l), parse_concat(),
                 t.pos);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      Token t = next();
      l = binary(BinOp::Concat, "~", std::move(l), parse_math2(), t.pos);
    }
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Token t = next();
      BinOp op = t.text == "*"   ? BinOp::Mul
                 : t.text == "/" ? BinOp::Div
                 : t.text == "%" ? BinOp::Mod
                                 : BinOp::FloorDiv;
      l = binary(op, t.text, std::move(l), parse_pow(), t.pos);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      Token t = next();
      l = binary(BinOp::Pow, "**", std::move(l), parse_unary(true), t.pos);
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filters) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Nesting n(depth_, src_, limits_, peek().pos, "expressions");
      Token t = next();
      auto u = make<Unary>(t.pos);
      u->op = t.text[0];
      u->e = parse_unary(false);
      e = sized(std::move(u), {u->e.get()});
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    return with_filters ? parse_filters(std::move(e)) : std::move(e);
  }
  ExprPtr parse_primary() {
    Token t = next();
    switch (t.type) {
      case Tok::String: {
        std::string v = t.text;
        while (peek().type == Tok::String) v += next().text;  // "a" "b"
        auto l = make<Literal>(t.pos);
        l->value = Value(std::move(v));
        return l;
      }
      case Tok::Int: {
        int64_t v = 0;
        auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (r.ec != std::errc()) src_.fail(t.pos, "integer literal out of range");
        auto l = make<Literal>(t.pos);
        l->value = Value(v);
        return l;
      }
      case Tok::Float: {
        auto l = make<Literal>(t.pos);
        l->value = Value(std::strtod(t.text.c_str(), nullptr));
        return l;
      }
      case Tok::Name: {
        auto l = make<Literal>(t.pos);
        if (t.text == "true" || t.text == "True")
          l->value = Value(true);
        else if (t.text == "false" || t.text == "False")
          l->value = Value(false);
        else if (t.text == "none" || t.text == "None")
          l->value = Value::none();
        else {
          auto v = make<Var>(t.pos);
          v->name = t.text;
          return v;
        }
        return l;
      }
      case Tok::Op: {
        if (t.text == "(") {
          if (accept_op(")")) return list_of({}, t.pos);  // () is an empty tuple
          ExprPtr e = parse_expression();
          if (is_op(",")) {  // a tuple: treated as a list
            std::vector<ExprPtr> items;
            items.push_back(std::move(e));
            while (accept_op(",") && !is_op(")")) items.push_back(parse_expression());
            e = list_of(std::move(items), t.pos);
          }
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          std::vector<ExprPtr> items;
          while (!accept_op("]")) {
            items.push_back(parse_expression());
            if (!accept_op(",")) {
              expect_op("]");
              break;
            }
          }
          return list_of(std::move(items), t.pos);
        }
        if (t.text == "{") {
          auto d = make<DictExpr>(t.pos);
          while (!accept_op("}")) {
            ExprPtr k = parse_expression();
            expect_op(":");
            d->items.emplace_back(std::move(k), parse_expression());
            if (!accept_op(",")) {
              expect_op("}");
              break;
            }
          }
          size_t h = 0;
          for (const auto& [k, v] : d->items) h = std::max({h, k->height, v->height});
          Literal probe;
          probe.height = h;
          return sized(std::move(d), {&probe});
        }
        break;
      }
      case Tok::End:
        src_.fail(t.pos, "unexpected end of expression");
    }
    src_.fail(t.pos, "unexpected '" + t.text + "'");
  }
  ExprPtr list_of(std::vector<ExprPtr> items, size_t pos) {
    auto l = make<ListExpr>(pos);
    l->items = std::move(items);
    Args kids;
    kids.positional = std::move(l->items);
    l = sized(std::move(l), {}, &kids);
    l->items = std::move(kids.positional);
    return l;
  }
  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      size_t pos = peek().pos;
      if (accept_op(".")) {
        if (peek().type == Tok::Int) {  // x.0 is x[0]
          auto gi = make<GetItem>(pos);
          gi->obj = std::move(e);
          auto l = make<Literal>(pos);
          l->value = Value(static_cast<int64_t>(std::stoll(next().text)));
          gi->key = std::move(l);
          e = sized(std::move(gi), {gi->obj.get()});
          continue;
        }
        auto g = make<GetAttr>(pos);
        g->obj = std::move(e);
        g->name = expect_name();
        e = sized(std::move(g), {g->obj.get()});
      } else if (accept_op("[")) {
        Nesting n(depth_, src_, limits_, pos, "expressions");
        ExprPtr a, b, c;
        bool slice = false;
        if (!is_op(":")) a = parse_expression();
        if (accept_op(":")) {
          slice = true;
          if (!is_op("]") && !is_op(":")) b = parse_expression();
          if (accept_op(":") && !is_op("]")) c = parse_expression();
        }
        expect_op("]");
        if (slice) {
          auto sl = make<Slice>(pos);
          sl->obj = std::move(e);
          sl->start = std::move(a);
          sl->stop = std::move(b);
          sl->step = std::move(c);
          e = sized(std::move(sl),
                    {sl->obj.get(), sl->start.get(), sl->stop.get(), sl->step.get()});
        } else {
          auto gi = make<GetItem>(pos);
          gi->obj = std::move(e);
          gi->key = std::move(a);
          e = sized(std::move(gi), {gi->obj.get(), gi->key.get()});
        }
      } else if (accept_op("(")) {
        Nesting n(depth_, src_, limits_, pos, "expressions");
        auto c = make<Call>(pos);
        c->callee = std::move(e);
        c->args = parse_args();
        e = sized(std::move(c), {c->callee.get()}, &c->args);
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
        e = sized(std::move(f), {f->e.get()}, &f->args);
      } else if (is_name("is")) {
        next();
        auto t = make<TestExpr>(pos);
        t->e = std::move(e);
        t->negated = accept_name("not");
        t->name = expect_name();
        if (accept_op("(")) {
          t->args = parse_args();
        } else if (peek().type == Tok::String || peek().type == Tok::Int ||
                   peek().type == Tok::Float || is_op("[") || is_op("{") ||
                   (peek().type == Tok::Name && !is_name("and") && !is_name("or") &&
                    !is_name("else") && !is_name("if") && !is_name("is") && !is_name("in") &&
                    !is_name("not"))) {
          t->args.positional.push_back(parse_postfix(parse_primary()));  // "x is divisibleby 3"
        }
        e = sized(std::move(t), {t->e.get()}, &t->args);
      } else if (accept_op("(")) {
        auto c = make<Call>(pos);
        c->callee = std::move(e);
        c->args = parse_args();
        e = sized(std::move(c), {c->callee.get()}, &c->args);
      } else {
        return e;
      }
    }
  }

  const Source& src_;
  const Limits& limits_;
  std::vector<Token> t_;
  size_t i_ = 0;
  size_t depth_ = 0;
};

class TemplateParser {
 public:
  TemplateParser(const Source& src, const Limits& limits)
      : src_(src), limits_(limits), p_(split_pieces(src)) {}

  NodeList parse_all() {
    std::string stop;
    return parse_until({}, &stop);
  }

 private:
  // Parses nodes until a statement whose keyword is in `ends`; that keyword goes to *stop and
  // the rest of its tag stays in cur_.
  NodeList parse_until(const std::vector<std::string>& ends, std::string* stop) {
    NodeList nodes;
    while (i_ < p_.size()) {
      const Piece& piece = p_[i_++];
      if (piece.kind == Piece::Text) {
        auto t = std::make_unique<TextNode>();
        t->pos = piece.begin;
        t->text = piece.text;
        nodes.push_back(std::move(t));
      } else if (piece.kind == Piece::Output) {
        ExprParser ep(src_, limits_, lex_expression(src_, piece.begin, piece.end));
        auto o = std::make_unique<OutputNode>();
        o->pos = piece.begin;
        o->e = ep.parse_expression();
        ep.expect_end();
        nodes.push_back(std::move(o));
      } else {
        cur_ = std::make_unique<ExprParser>(src_, limits_,
                                            lex_expression(src_, piece.begin, piece.end));
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

  // The body of a block statement, one nesting level down.
  NodeList parse_block(const std::vector<std::string>& ends, std::string* stop, size_t pos) {
    Nesting n(depth_, src_, limits_, pos, "blocks");
    return parse_until(ends, stop);
  }

  std::unique_ptr<Node> parse_statement(const std::string& kw, size_t pos) {
    if (kw == "if") {
      auto n = std::make_unique<IfNode>();
      n->pos = pos;
      ExprPtr cond = cur_->parse_expression();
      cur_->expect_end();
      for (;;) {
        std::string stop;
        NodeList body = parse_block({"elif", "else", "endif"}, &stop, pos);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (stop == "elif") {
          cond = cur_->parse_expression();
          cur_->expect_end();
          continue;
        }
        if (stop == "else") {
          cur_->expect_end();
          n->otherwise = parse_block({"endif"}, &stop, pos);
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
        n->filter = std::move(t->cond);  // "for x in xs if cond" parses as a ternary sans else
        n->iterable = std::move(t->then);
      }
      if (cur_->accept_name("recursive")) src_.fail(pos, "recursive loops are not supported");
      cur_->expect_end();
      std::string stop;
      n->body = parse_block({"else", "endfor"}, &stop, pos);
      if (stop == "else") {
        cur_->expect_end();
        n->otherwise = parse_block({"endfor"}, &stop, pos);
      }
      cur_->expect_end();
      return n;
    }
    if (kw == "set") {
      auto n = std::make_unique<SetNode>();
      n->pos = pos;
      do n->names.push_back(cur_->expect_name());
      while (cur_->accept_op(","));
      if (n->names.size() == 1 && cur_->accept_op(".")) n->attr = cur_->expect_name();
      if (cur_->accept_op("=")) {
        n->value = cur_->parse_expression();
        if (cur_->is_op(","))
          n->value = cur_->parse_tuple_rest(std::move(n->value));  // a, b = 1, 2
        cur_->expect_end();
        return n;
      }
      cur_->expect_end();
      if (n->names.size() != 1 || !n->attr.empty()) src_.fail(pos, "expected '='");
      std::string stop;
      n->body = parse_block({"endset"}, &stop, pos);
      cur_->expect_end();
      return n;
    }
    if (kw == "macro") {
      auto m = std::make_shared<MacroNode>();
      m->pos = pos;
      m->name = cur_->expect_name();
      cur_->expect_op("(");
      while (!cur_->accept_op(")")) {
        std::string p = cur_->expect_name();
        ExprPtr def;
        if (cur_->accept_op("=")) def = cur_->parse_expression();
        m->params.emplace_back(std::move(p), std::move(def));
        if (!cur_->accept_op(",")) {
          cur_->expect_op(")");
          break;
        }
      }
      cur_->expect_end();
      std::string stop;
      m->body = parse_block({"endmacro"}, &stop, pos);
      auto n = std::make_unique<MacroDefNode>();
      n->pos = pos;
      n->macro = std::move(m);
      return n;
    }
    if (kw == "break" || kw == "continue") {
      cur_->expect_end();
      auto n = std::make_unique<LoopControlNode>();
      n->pos = pos;
      n->is_break = kw == "break";
      return n;
    }
    if (kw == "generation" || kw == "endgeneration") return nullptr;  // training-mask markers
    src_.fail(pos, "unsupported statement '" + kw + "'");
  }

  const Source& src_;
  const Limits& limits_;
  std::vector<Piece> p_;
  size_t i_ = 0;
  size_t depth_ = 0;
  std::unique_ptr<ExprParser> cur_;
};

}  // namespace

NodeList parse_template(const Source& src, const Limits& limits) {
  return TemplateParser(src, limits).parse_all();
}

}  // namespace hqq::jinja
