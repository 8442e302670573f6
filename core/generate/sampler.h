#pragma once
// Picks the next token from logits: greedy, or temperature sampling restricted by top-k and
// top-p, with the HF repetition penalty. Its own seeded RNG makes runs reproducible.
#include <cstdint>
#include <random>
#include <vector>

namespace hqq {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float repetition_penalty = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // logits: one row of `n` fp32 values; history: tokens seen so far (prompt and generated).
  int64_t sample(const float* logits, int64_t n, const std::vector<int64_t>& history);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int64_t> order_;
};

}  // namespace hqq
