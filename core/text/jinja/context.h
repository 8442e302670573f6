#pragma once
// The state of one render: variable scopes, the clock strftime_now reads, and the counters that
// hold a template to its Limits.
#include <ctime>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/text/jinja/error.h"
#include "core/text/jinja/limits.h"
#include "core/text/jinja/value.h"

namespace hqq::jinja {

using Clock = std::function<std::tm()>;  // local time, broken down

class Context {
 public:
  using Frame = std::unordered_map<std::string, Value>;

  Context(const Source& src, const Limits& limits, Clock clock)
      : src(src), limits(limits), clock(std::move(clock)) {
    frames.emplace_back();
  }

  const Source& src;
  const Limits& limits;
  Clock clock;
  // frames[0] holds the globals; a lookup sees frames[base..] and then frames[0] (a macro body
  // sees its arguments and the globals, not its caller's loop variables).
  std::vector<Frame> frames;
  size_t base = 0;
  enum class Flow { Normal, Break, Continue } flow = Flow::Normal;
  size_t macro_depth = 0;

  Value lookup(const std::string& name) const;
  Value* find(const std::string& name);
  void set(const std::string& name, Value v) { frames.back()[name] = std::move(v); }

  // One statement or expression; throws past Limits::max_steps.
  void step(size_t pos) {
    if (++steps_ > limits.max_steps)
      over(pos,
           "ran more than " + count(limits.max_steps) + " steps (an endless or runaway loop?)");
  }
  // Bytes about to be built for a new string or list: checks one value's size and the total.
  void check_string(size_t bytes, size_t pos);
  void check_list(size_t items, size_t pos);
  void check_depth_of(const Value& v, size_t pos);
  Value make_string(std::string s, size_t pos) {
    check_string(s.size(), pos);
    return Value(std::move(s));
  }
  Value make_list(List items, size_t pos);

  [[noreturn]] void fail(size_t pos, const std::string& what) const { src.fail(pos, what); }
  [[noreturn]] void over(size_t pos, const std::string& what) const {
    src.fail(pos, "over the template engine's limit: " + what);
  }
  static std::string count(size_t n);

 private:
  friend class DepthGuard;
  size_t steps_ = 0, depth_ = 0, built_ = 0;
};

// One level of render recursion (a statement or expression being evaluated).
class DepthGuard {
 public:
  DepthGuard(Context& c, size_t pos) : c_(c) {
    if (++c_.depth_ > c_.limits.max_render_depth)
      c_.over(pos, "nested more than " + Context::count(c_.limits.max_render_depth) +
                       " levels deep while rendering (runaway macro recursion?)");
  }
  ~DepthGuard() { --c_.depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  Context& c_;
};

}  // namespace hqq::jinja
