#include "core/generate/generate.h"

#include <algorithm>
#include <chrono>

#include "core/base/error.h"
#include "core/model/decode_step.h"

namespace hqq {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eos:
      return "eos";
    case StopReason::StopString:
      return "stop_string";
    case StopReason::Length:
      return "length";
    case StopReason::Context:
      return "context";
    case StopReason::Cancelled:
      return "cancelled";
  }
  return "?";
}
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Incremental detokenisation: text is final once a later decode cannot change it. A trailing
// U+FFFD means a byte-fallback character is still incomplete, so it is held back.
class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::optional<int64_t> anchor) : tok_(tok) {
    if (anchor) {
      // Decoding after the last prompt token keeps the leading space sentencepiece would drop.
      ids_.push_back(*anchor);
      skip_ = tok_.decode(ids_).size();
    }
  }
  // Full text of the generated tokens so far.
  const std::string& push(int64_t id) {
    ids_.push_back(id);
    std::string all = tok_.decode(ids_);
    text_ = all.size() >= skip_ ? all.substr(skip_) : std::string();
    return text_;
  }
  static size_t stable_length(const std::string& t) {
    static const std::string kReplacement = "\xEF\xBF\xBD";
    size_t n = t.size();
    while (n >= 3 && t.compare(n - 3, 3, kReplacement) == 0) n -= 3;
    return n;
  }

 private:
  const Tokenizer& tok_;
  std::vector<int64_t> ids_;
  size_t skip_ = 0;
  std::string text_;
};

// How much of `text` can be emitted without risking the start of a stop string.
size_t safe_length(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return text.size() - hold;
}

}  // namespace

double GenerateResult::decode_tokens_per_second() const {
  return decode_seconds > 0
             ? static_cast<double>(tokens.size() > 0 ? tokens.size() - 1 : 0) / decode_seconds
             : 0;
}
double GenerateResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0;
}

size_t common_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

GenerateResult generate(const LlamaModel& model, const Tokenizer& tok,
                        const std::vector<int64_t>& prompt, const GenerateOptions& opts,
                        const TextCallback& on_text, const JobContext& job, DecodeState* state) {
  if (prompt.empty()) throw InputError("generate: the prompt is empty (no tokens)");
  if (opts.max_new_tokens < 0) throw InputError("generate: max_new_tokens must be >= 0");
  for (const auto& s : opts.stop_strings)
    if (s.empty()) throw InputError("generate: empty stop string");
  const int64_t max_ctx = model.config().max_position_embeddings;
  const int64_t want = static_cast<int64_t>(prompt.size()) + opts.max_new_tokens;
  std::optional<DecodeState> local;
  if (!state) {
    local.emplace(DecodeState{
        model.make_cache(1, std::min(want, std::max<int64_t>(max_ctx, prompt.size()))), {}});
    state = &*local;
  }
  KvCache& cache = state->cache;
  if (static_cast<int64_t>(prompt.size()) > cache.capacity())
    throw InputError("prompt of " + std::to_string(prompt.size()) +
                     " tokens exceeds the context of " + std::to_string(cache.capacity()) +
                     " tokens");
  // Reuse the cached prefix, but always prefill at least one token to get logits.
  size_t reuse = std::min(common_prefix(state->tokens, prompt), prompt.size() - 1);
  reuse = std::min<size_t>(reuse, static_cast<size_t>(cache.length()));
  cache.truncate(static_cast<int64_t>(reuse));
  state->tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(reuse));

  const std::vector<int64_t>& stop_ids =
      opts.stop_token_ids.empty() ? tok.eos_ids() : opts.stop_token_ids;
  GenerateResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(opts.sampling);
  std::vector<int64_t> history(prompt);
  std::optional<int64_t> anchor;
  if (!tok.is_special(prompt.back())) anchor = prompt.back();
  TextStream stream(tok, anchor);
  size_t emitted = 0;
  auto emit_to = [&](const std::string& text, size_t n) {
    if (n > emitted) {
      if (on_text) on_text(std::string_view(text).substr(emitted, n - emitted));
      emitted = n;
    }
  };

  // The fused one-token step when every layer supports it (decode_step.h), else forward().
  std::optional<DecodeWorkspace> workspace;
  if (!opts.reference_decode && cache.batch() == 1 && model.can_decode() &&
      cache.keys(0).scalar_type() == model.dtype())
    workspace.emplace(model);
  auto t0 = Clock::now();
  std::vector<int64_t> pending(prompt.begin() + static_cast<std::ptrdiff_t>(reuse), prompt.end());
  r.stop_reason = StopReason::Length;
  std::string text;
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    if (job.cancelled()) {
      r.stop_reason = StopReason::Cancelled;
      break;
    }
    if (cache.length() + static_cast<int64_t>(pending.size()) > cache.capacity()) {
      r.stop_reason = StopReason::Context;
      break;
    }
    const auto t_step = Clock::now();
    // Only one-token steps are profiled: the prompt's prefill is another kind of work.
    DecodeProfile* profile = step > 0 ? opts.profile : nullptr;
    const float* logits = nullptr;
    at::Tensor logits_t;
    if (pending.size() == 1 && workspace) {
      logits = model.decode(pending[0], cache, *workspace, profile);
    } else {
      // Only the last position's logits are sampled: the lm_head runs on that row alone (for a
      // 126-token prompt of a 32k-vocabulary model it was 1/6 of the prefill's work).
      at::Tensor input = at::tensor(pending, at::kLong).unsqueeze(0);
      at::Tensor last = model.hidden_states(input, &cache, profile).narrow(1, input.size(1) - 1, 1);
      StageTimer head(profile, DecodeProfile::LmHead);
      logits_t = model.logits(last).reshape({-1}).contiguous();
      head.stop();
      logits = logits_t.data_ptr<float>();
    }
    state->tokens.insert(state->tokens.end(), pending.begin(), pending.end());
    if (step == 0) {
      r.prefill_seconds = seconds_since(t0);
      t0 = Clock::now();
    }
    StageTimer sampling(profile, DecodeProfile::Sampling);
    int64_t next = sampler.sample(logits, model.config().vocab_size, history);
    sampling.stop();
    if (profile) {
      profile->total_seconds += seconds_since(t_step);
      ++profile->tokens;
    }
    r.tokens.push_back(next);
    history.push_back(next);
    pending.assign(1, next);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) {
      r.stop_reason = StopReason::Eos;
      break;
    }
    text = stream.push(next);
    bool stopped = false;
    for (const auto& s : opts.stop_strings) {
      size_t at = text.find(s, emitted > s.size() ? emitted - s.size() : 0);
      if (at != std::string::npos) {
        text.resize(at);
        stopped = true;
      }
    }
    if (stopped) {
      emit_to(text, text.size());
      r.stop_reason = StopReason::StopString;
      break;
    }
    emit_to(text, std::min(TextStream::stable_length(text), safe_length(text, opts.stop_strings)));
  }
  if (r.stop_reason != StopReason::StopString) emit_to(text, text.size());
  r.text = text;
  // state->tokens now lists exactly what the cache holds: the last sampled token was never fed.
  (r.tokens.empty() ? r.prefill_seconds : r.decode_seconds) = seconds_since(t0);
  return r;
}

}  // namespace hqq
