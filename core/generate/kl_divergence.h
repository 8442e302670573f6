#pragma once
// Fidelity of a (quantized) model to a reference (its full-precision original): the KL
// divergence KL(reference ‖ model) of the next-token distributions, top-1 agreement and the
// perplexity ratio, over exactly the tokens a perplexity run scores. The figures are the ones
// llama.cpp's `perplexity --kl-divergence` reports (mean KLD, its percentiles, "Same top p",
// PPL(Q)/PPL(base)), so that the two tools can be compared on the same text and context.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/generate/perplexity.h"

namespace hqq {

// Per-token KL(ref ‖ model) for rows of log-probabilities [..., V] → [...] (fp64 sums).
at::Tensor token_kl(const at::Tensor& ref_logp, const at::Tensor& logp);

struct KlWindow {
  int64_t window = 0;
  int64_t tokens = 0;
  double kl = 0;    // mean over the window's scored tokens
  double top1 = 0;  // fraction whose argmax agrees with the reference's
  double ppl = 0, ppl_reference = 0;
};

struct KlResult {
  int64_t tokens = 0;
  double mean_kl = 0, kl_p99 = 0, kl_median = 0, kl_max = 0;
  double top1 = 0;  // fraction in [0, 1]
  double ppl = 0, ppl_reference = 0;
  double ppl_ratio = 0;  // exp(mean NLL − mean reference NLL), llama.cpp's PPL(Q)/PPL(base)
  std::vector<KlWindow> windows;
  nlohmann::json to_json() const;  // the per-window figures under "windows"
};

// Collects per-token figures window by window; result() sorts them for the percentiles.
class KlAccumulator {
 public:
  // logp, ref_logp: [b, n, V] (or [n, V]); target [b, n] (or [n]).
  void add(int64_t first_window, const at::Tensor& logp, const at::Tensor& ref_logp,
           const at::Tensor& target);
  KlResult result() const;

 private:
  std::vector<float> kl_;
  std::vector<KlWindow> windows_;
  double kl_sum_ = 0, nll_sum_ = 0, ref_nll_sum_ = 0;
  int64_t same_top_ = 0;
};

// Where the reference's log-probabilities come from: a model run beside (Live) or a file
// written by save_reference (ReferenceFile).
class KlReference {
 public:
  virtual ~KlReference() = default;
  // Log-probabilities [b, n, V] of the scored positions of windows first_window..+b, whose
  // model input is `input` [b, ctx].
  virtual at::Tensor logprobs(int64_t first_window, const at::Tensor& input) = 0;
};

class LiveReference : public KlReference {
 public:
  LiveReference(const LlamaModel& reference, int64_t first_scored)
      : ref_(reference), first_(first_scored) {}
  at::Tensor logprobs(int64_t first_window, const at::Tensor& input) override;

 private:
  const LlamaModel& ref_;
  int64_t first_;
};

struct PerplexityWithKl {
  PerplexityResult ppl;
  KlResult kl;
};

// Perplexity of `model` and its fidelity to `reference` over the same scored tokens.
PerplexityWithKl perplexity_with_reference(const LlamaModel& model,
                                           const std::vector<int64_t>& tokens,
                                           PerplexityOptions opts, KlReference& reference,
                                           const JobContext& job = {});

}  // namespace hqq
