#include "core/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/error.h"

namespace hqq {

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {
  if (p.temperature < 0) throw InputError("temperature must be >= 0");
  if (p.top_k < 0) throw InputError("top-k must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) throw InputError("top-p must be in (0, 1]");
  if (!(p.repetition_penalty > 0)) throw InputError("repetition penalty must be > 0");
}

int64_t Sampler::sample(const float* logits, int64_t n, const std::vector<int64_t>& history) {
  // Greedy without a penalty: the argmax of the logits as they are (no copy, no softmax).
  if (p_.temperature == 0.0f && p_.repetition_penalty == 1.0f)
    return std::max_element(logits, logits + n) - logits;
  work_.assign(logits, logits + n);
  if (p_.repetition_penalty != 1.0f) {
    // As HF: a seen token's logit is divided by the penalty when positive, multiplied when not.
    std::vector<int64_t> seen(history);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int64_t t : seen) {
      if (t < 0 || t >= n) continue;
      float& l = work_[static_cast<size_t>(t)];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if (p_.temperature == 0.0f) return std::max_element(work_.begin(), work_.end()) - work_.begin();

  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  auto by_logit = [this](int64_t a, int64_t b) {
    return work_[a] > work_[b] || (work_[a] == work_[b] && a < b);
  };
  int64_t keep = n;
  if (p_.top_k > 0 && p_.top_k < n) {
    keep = p_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), by_logit);
  } else {
    std::sort(order_.begin(), order_.end(), by_logit);
  }
  // Softmax over the kept candidates, at the requested temperature.
  const float top = work_[order_[0]];
  std::vector<double> probs(static_cast<size_t>(keep));
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((static_cast<double>(work_[order_[i]]) - top) / p_.temperature);
    sum += probs[i];
  }
  for (double& q : probs) q /= sum;
  if (p_.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (always at least one token).
    double mass = 0;
    int64_t cut = 0;
    while (cut < keep) {
      mass += probs[cut++];
      if (mass >= p_.top_p) break;
    }
    keep = cut;
    probs.resize(static_cast<size_t>(keep));
  }
  std::discrete_distribution<int64_t> pick(probs.begin(), probs.end());
  return order_[static_cast<size_t>(pick(rng_))];
}

}  // namespace hqq
