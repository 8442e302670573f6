#pragma once
// The one contract of every long job (load, quantize, export, plan, fine-tune, train,
// perplexity, generate): a job takes `const JobContext&` as its last argument, reports progress
// through it at natural boundaries (a layer, a window, a step) and calls check() there, which
// throws Cancelled once the caller cancels and waits while the caller pauses. The caller (a CLI
// command or a GUI worker) owns the token and the pause flag and outlives the job.
#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

#include "core/base/progress.h"

namespace hqq {

struct JobContext {
  ProgressFn progress;                       // may be empty
  const CancelToken* cancel = nullptr;       // may be null: the job cannot be cancelled
  const std::atomic<bool>* pause = nullptr;  // may be null: the job cannot be paused

  void report(ProgressEvent ev) const {
    if (progress) progress(ev);
  }
  bool cancelled() const { return cancel && cancel->cancelled(); }
  // Throws Cancelled when cancelled; while paused, sleeps (still honouring cancel).
  void check() const {
    while (pause && pause->load(std::memory_order_relaxed)) {
      if (cancelled()) throw Cancelled();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (cancelled()) throw Cancelled();
  }
  // The same cancel and pause with another progress sink (a sub-stage of this job).
  JobContext with_progress(ProgressFn p) const { return {std::move(p), cancel, pause}; }
};

}  // namespace hqq
