#pragma once
// Text generation: batched prefill of the prompt, then token-by-token decode with the KV cache,
// streaming decoded text as it becomes final.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/job.h"
#include "core/base/progress.h"
#include "core/generate/sampler.h"
#include "core/model/llama_model.h"
#include "core/text/tokenizer.h"

namespace hqq {

struct GenerateOptions {
  int64_t max_new_tokens = 256;
  SamplingParams sampling;
  std::vector<int64_t> stop_token_ids;  // empty: the tokenizer's EOS ids
  std::vector<std::string> stop_strings;
  DecodeProfile* profile = nullptr;  // when set: stage times of the one-token decode steps
  // Decode through forward() even when LlamaModel::decode() could run the model (the reference
  // path, for comparisons).
  bool reference_decode = false;
};

// Why generation ended. Cancelled is an ordinary end here (the reply so far is kept), not an
// exception: a chat's Stop button keeps what was said.
enum class StopReason { Eos, StopString, Length, Context, Cancelled };
const char* stop_reason_name(
    StopReason r);  // "eos", "stop_string", "length", "context", "cancelled"

struct GenerateResult {
  std::vector<int64_t> tokens;  // generated ids (without the prompt)
  std::string text;             // their text, cut before a stop string
  StopReason stop_reason = StopReason::Length;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  double decode_tokens_per_second() const;
  double prefill_tokens_per_second() const;
};

// A KV cache together with the tokens it holds, so a conversation's next turn prefills only
// what differs from what is cached.
struct DecodeState {
  KvCache cache;
  std::vector<int64_t> tokens;
};

// Receives each new piece of final text as it is produced.
using TextCallback = std::function<void(std::string_view)>;

// Generates after `prompt` (token ids, already with BOS if wanted). With `state`, the cached
// common prefix is reused and the state holds prompt and reply afterwards; without, a cache
// sized for prompt + max_new_tokens is made for this call.
GenerateResult generate(const LlamaModel& model, const Tokenizer& tok,
                        const std::vector<int64_t>& prompt, const GenerateOptions& opts,
                        const TextCallback& on_text = {}, const JobContext& job = {},
                        DecodeState* state = nullptr);

// Length of the longest common prefix of two id sequences.
size_t common_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace hqq
