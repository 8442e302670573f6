#pragma once
// Where the time of decoding goes, per stage, summed over the tokens decoded one at a time
// (`hqq generate --profile`). Stages are timed by wall clock on the calling thread, so a stage
// run by several threads counts once, as the user waits for it.
#include <array>
#include <chrono>
#include <cstdint>

namespace hqq {

struct DecodeProfile {
  enum Stage { Projections, Attention, LmHead, Norms, Elementwise, Sampling, Other, kStages };
  static constexpr const char* kNames[kStages] = {
      "projections", "attention", "lm_head", "norms", "rope/glu/residual", "sampling", "other"};
  std::array<double, kStages> seconds{};
  double total_seconds = 0;  // whole decode steps, sampling included
  int64_t tokens = 0;
  void add(Stage s, double sec) { seconds[s] += sec; }
};

// Adds the time from construction to destruction to one stage of `p` (nothing when p is null).
class StageTimer {
 public:
  using Clock = std::chrono::steady_clock;
  StageTimer(DecodeProfile* p, DecodeProfile::Stage s) : p_(p), s_(s) {
    if (p_) t0_ = Clock::now();
  }
  ~StageTimer() { stop(); }
  void stop() {
    if (p_) p_->add(s_, std::chrono::duration<double>(Clock::now() - t0_).count());
    p_ = nullptr;
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  DecodeProfile* p_;
  DecodeProfile::Stage s_;
  Clock::time_point t0_;
};

}  // namespace hqq
