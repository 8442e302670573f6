#pragma once
// Perplexity of a model on a token stream, the way the HQQ/GPTQ papers report it, or the way
// llama.cpp's perplexity tool does (so figures can be compared with either).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/model/llama_model.h"

namespace hqq {

enum class PplMethod {
  // Non-overlapping windows of ctx tokens, trailing partial window dropped; every token of a
  // window but the first is predicted (ctx - 1 per window).
  Standard,
  // llama.cpp: each window's first token is replaced by BOS and only its second half is scored.
  LlamaCpp,
};

struct PerplexityOptions {
  int64_t ctx = 2048;
  PplMethod method = PplMethod::Standard;
  int64_t batch = 1;              // windows evaluated together
  std::optional<int64_t> bos_id;  // for LlamaCpp
  // Called for every batch of windows with what was scored, so that other measures (the KL
  // divergence to a reference, a saved reference) cover exactly these tokens: the first window's
  // index, the model input [b, ctx] (BOS already in place for LlamaCpp), the log-probabilities
  // of the scored positions [b, n, V] and their targets [b, n].
  std::function<void(int64_t first_window, const at::Tensor& input, const at::Tensor& logp,
                     const at::Tensor& target)>
      on_window;
};

// First position of a window whose next-token prediction is scored.
inline int64_t first_scored_position(const PerplexityOptions& o) {
  return o.method == PplMethod::LlamaCpp ? o.ctx / 2 : 0;
}

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;
  int64_t tokens_scored = 0;
  int64_t windows = 0;
  int64_t ctx = 0;
  double seconds = 0;
  std::string method;
};

// `tokens` is the whole text tokenized once (BOS at the very start only, no EOS).
PerplexityResult perplexity(const LlamaModel& model, const std::vector<int64_t>& tokens,
                            const PerplexityOptions& opts, const JobContext& job = {});

const char* ppl_method_name(PplMethod m);

}  // namespace hqq
