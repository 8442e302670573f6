#include "core/generate/kl_divergence.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"

namespace hqq {

at::Tensor token_kl(const at::Tensor& ref_logp, const at::Tensor& logp) {
  at::Tensor r = ref_logp.to(at::kFloat);
  // Σ p_ref (log p_ref − log p_model); the products in fp32, the sum over the vocabulary in fp64.
  return (r.exp() * (r - logp.to(at::kFloat))).to(at::kDouble).sum(-1);
}

namespace {
// Linear interpolation between the two nearest ranks, as llama.cpp's percentiles.
double percentile(const std::vector<float>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double p = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(p);
  const double f = p - static_cast<double>(i);
  return (1 - f) * sorted[i] + f * sorted[std::min(i + 1, sorted.size() - 1)];
}
}  // namespace

void KlAccumulator::add(int64_t first_window, const at::Tensor& logp, const at::Tensor& ref_logp,
                        const at::Tensor& target) {
  const int64_t V = logp.size(-1);
  if (ref_logp.size(-1) != V)
    throw InputError("the reference has a vocabulary of " + std::to_string(ref_logp.size(-1)) +
                     " tokens, the model " + std::to_string(V));
  at::Tensor lp = logp.reshape({-1, logp.size(-2), V});
  at::Tensor rp = ref_logp.reshape({-1, logp.size(-2), V});
  at::Tensor tg = target.reshape({lp.size(0), lp.size(1), 1});
  at::Tensor kl = token_kl(rp, lp).contiguous();                        // [b, n]
  at::Tensor same = (lp.argmax(-1) == rp.argmax(-1)).to(at::kLong);     // [b, n]
  at::Tensor nll = -lp.gather(-1, tg).squeeze(-1).to(at::kDouble);      // [b, n]
  at::Tensor ref_nll = -rp.gather(-1, tg).squeeze(-1).to(at::kDouble);  // [b, n]
  for (int64_t b = 0; b < lp.size(0); ++b) {
    at::Tensor k = kl[b];
    const double* kp = k.data_ptr<double>();
    for (int64_t i = 0; i < k.numel(); ++i) kl_.push_back(static_cast<float>(kp[i]));
    KlWindow w;
    w.window = first_window + b;
    w.tokens = k.numel();
    const double ks = k.sum().item<double>(), ns = nll[b].sum().item<double>(),
                 rs = ref_nll[b].sum().item<double>();
    const int64_t st = same[b].sum().item<int64_t>();
    w.kl = ks / static_cast<double>(w.tokens);
    w.top1 = static_cast<double>(st) / static_cast<double>(w.tokens);
    w.ppl = std::exp(ns / static_cast<double>(w.tokens));
    w.ppl_reference = std::exp(rs / static_cast<double>(w.tokens));
    kl_sum_ += ks;
    nll_sum_ += ns;
    ref_nll_sum_ += rs;
    same_top_ += st;
    windows_.push_back(w);
  }
}

KlResult KlAccumulator::result() const {
  KlResult r;
  r.tokens = static_cast<int64_t>(kl_.size());
  r.windows = windows_;
  if (kl_.empty()) return r;
  const double n = static_cast<double>(kl_.size());
  std::vector<float> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  r.mean_kl = kl_sum_ / n;
  r.kl_p99 = percentile(sorted, 0.99);
  r.kl_median = percentile(sorted, 0.5);
  r.kl_max = sorted.back();
  r.top1 = static_cast<double>(same_top_) / n;
  r.ppl = std::exp(nll_sum_ / n);
  r.ppl_reference = std::exp(ref_nll_sum_ / n);
  r.ppl_ratio = std::exp((nll_sum_ - ref_nll_sum_) / n);
  return r;
}

nlohmann::json KlResult::to_json() const {
  nlohmann::json w = nlohmann::json::array();
  for (const auto& x : windows)
    w.push_back({{"window", x.window},
                 {"tokens", x.tokens},
                 {"kl", x.kl},
                 {"top1", x.top1},
                 {"ppl", x.ppl},
                 {"ppl_reference", x.ppl_reference}});
  return {{"kl_tokens", tokens},
          {"kl_mean", mean_kl},
          {"kl_p99", kl_p99},
          {"kl_median", kl_median},
          {"kl_max", kl_max},
          {"top1_agreement", top1},
          {"ppl_reference", ppl_reference},
          {"ppl_ratio", ppl_ratio},
          {"kl_windows", w}};
}

at::Tensor LiveReference::logprobs(int64_t, const at::Tensor& input) {
  at::Tensor logits = ref_.forward(input);
  const int64_t ctx = input.size(1);
  return at::log_softmax(logits.narrow(1, first_, ctx - 1 - first_), -1);
}

PerplexityWithKl perplexity_with_reference(const LlamaModel& model,
                                           const std::vector<int64_t>& tokens,
                                           PerplexityOptions opts, KlReference& reference,
                                           const JobContext& job) {
  at::NoGradGuard no_grad;
  KlAccumulator acc;
  auto chained = opts.on_window;
  opts.on_window = [&](int64_t w, const at::Tensor& input, const at::Tensor& logp,
                       const at::Tensor& target) {
    if (chained) chained(w, input, logp, target);
    acc.add(w, logp, reference.logprobs(w, input), target);
  };
  PerplexityWithKl r;
  r.ppl = perplexity(model, tokens, opts, job);
  r.kl = acc.result();
  return r;
}

}  // namespace hqq
