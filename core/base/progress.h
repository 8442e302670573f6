#pragma once
// Progress reporting and cooperative cancellation shared by every long-running core job.
// Jobs call report() and check() at natural boundaries (a layer, a window, a token); the caller
// (CLI or GUI worker) decides how to show progress and when to cancel.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/base/error.h"

namespace hqq {

class CancelToken {
 public:
  void cancel() noexcept { flag_.store(true, std::memory_order_relaxed); }
  void reset() noexcept { flag_.store(false, std::memory_order_relaxed); }
  bool cancelled() const noexcept { return flag_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> flag_{false};
};

struct ProgressEvent {
  std::string stage;  // e.g. "load", "ppl"
  int64_t done = 0;
  int64_t total = 0;
  std::string message;
};

using ProgressFn = std::function<void(const ProgressEvent&)>;

// Throws Cancelled when the token (which may be null) was triggered.
inline void check_cancel(const CancelToken* token) {
  if (token && token->cancelled()) throw Cancelled();
}

inline void report(const ProgressFn& fn, ProgressEvent ev) {
  if (fn) fn(ev);
}

}  // namespace hqq
