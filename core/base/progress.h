#pragma once
// The pieces of the job contract (see job.h, which every long job takes): a cancel flag the
// caller sets, and the progress events a job reports.
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

}  // namespace hqq
