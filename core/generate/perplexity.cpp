#include "core/generate/perplexity.h"

#include <chrono>
#include <cmath>

#include "core/base/error.h"

namespace hqq {

const char* ppl_method_name(PplMethod m) {
  return m == PplMethod::Standard ? "standard" : "llamacpp";
}

PerplexityResult perplexity(const LlamaModel& model, const std::vector<int64_t>& tokens,
                            const PerplexityOptions& opts, const JobContext& job) {
  const int64_t ctx = opts.ctx;
  if (ctx < 2) throw InputError("perplexity: context length must be at least 2");
  if (opts.batch < 1) throw InputError("perplexity: batch must be at least 1");
  if (ctx > model.config().max_position_embeddings)
    throw InputError("perplexity: context " + std::to_string(ctx) +
                     " exceeds the model's maximum of " +
                     std::to_string(model.config().max_position_embeddings) + " positions");
  const int64_t windows = static_cast<int64_t>(tokens.size()) / ctx;
  if (windows == 0)
    throw InputError("perplexity: the text has " + std::to_string(tokens.size()) +
                     " tokens, fewer than one window of " + std::to_string(ctx));
  const bool llamacpp = opts.method == PplMethod::LlamaCpp;
  if (llamacpp && !opts.bos_id)
    throw InputError("perplexity: the llama.cpp method needs a BOS token");
  // First logit position that is scored within a window.
  const int64_t first = first_scored_position(opts);

  auto t0 = std::chrono::steady_clock::now();
  double nll_sum = 0;
  int64_t scored = 0;
  at::Tensor all = at::tensor(tokens, at::kLong);
  for (int64_t w = 0; w < windows; w += opts.batch) {
    job.check();
    const int64_t b = std::min(opts.batch, windows - w);
    at::Tensor input = all.narrow(0, w * ctx, b * ctx).view({b, ctx}).clone();
    if (llamacpp) input.select(1, 0).fill_(*opts.bos_id);
    at::Tensor logits = model.forward(input);  // [b, ctx, V] fp32
    at::Tensor pred = logits.narrow(1, first, ctx - 1 - first);
    at::Tensor target = input.narrow(1, first + 1, ctx - 1 - first);
    at::Tensor logp = at::log_softmax(pred, -1);
    at::Tensor nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1);
    nll_sum += nll.to(at::kDouble).sum().item<double>();
    if (opts.on_window) opts.on_window(w, input, logp, target);
    scored += nll.numel();
    job.report({"ppl", w + b, windows,
                "ppl so far " + std::to_string(std::exp(nll_sum / static_cast<double>(scored)))});
  }
  PerplexityResult r;
  r.mean_nll = nll_sum / static_cast<double>(scored);
  r.ppl = std::exp(r.mean_nll);
  r.tokens_scored = scored;
  r.windows = windows;
  r.ctx = ctx;
  r.method = ppl_method_name(opts.method);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace hqq
