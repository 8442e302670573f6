#pragma once
// Runs a callable when the scope ends, however it ends (return or exception): for state lent
// out for one trial and owed back unchanged, e.g. a model's layer swapped for a candidate.
#include <utility>

namespace hqq {

template <typename F>
class OnExit {
 public:
  explicit OnExit(F f) : f_(std::move(f)) {}
  ~OnExit() { f_(); }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;

 private:
  F f_;
};

}  // namespace hqq
