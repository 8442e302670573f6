#pragma once
// A reference model's next-token log-probabilities saved once (`hqq ppl --save-reference`), so
// that the KL divergence of a quantized model can be measured later without holding both models
// in memory. Full rows are kept, not a top-k: the KL sums over the whole vocabulary, and a top-k
// with a "rest" bucket gives only a lower bound that misses the tail quantization disturbs.
// Each row is stored as 16-bit codes on a per-row affine grid spanning the row's top 40 nats
// (step ≤ 6e-4 nats; what lies lower has p < 4e-18 and is clamped), 2 bytes per vocabulary entry
// per scored token, half of fp32; the scored token's own log-probability is kept exactly beside.
// The file is safetensors: per window "codes.W" (I16 [n, V]), "lo.W", "step.W" and "target.W"
// (F32 [n]); the metadata names what it was computed on (a hash of the token ids, ctx, method,
// vocabulary, windows), checked before use.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/generate/kl_divergence.h"
#include "core/io/output_folder.h"

namespace hqq {

struct ReferenceKey {
  std::string tokens_hash;  // FNV-1a 64 of the token ids, hex: the text, tokenizer and cut
  int64_t text_tokens = 0;
  int64_t ctx = 0;
  std::string method;
  int64_t vocab = 0;
  int64_t windows = 0;
};

ReferenceKey reference_key(const std::vector<int64_t>& tokens, const PerplexityOptions& opts,
                           int64_t vocab);

// Scores `model` as perplexity() does and writes its log-probabilities to out.path
// (atomically), after refusing an output that would land on a source or an existing file
// (the model's folder and the scored text are the caller's sources).
PerplexityResult save_reference(const LlamaModel& model, const std::vector<int64_t>& tokens,
                                PerplexityOptions opts, const OutputFile& out,
                                const JobContext& job = {});

class SafetensorsFile;

class ReferenceFile : public KlReference {
 public:
  // Throws InputError naming the file when it is not a reference file or was computed on
  // something else than `expected` (another text, ctx, method or vocabulary).
  static std::unique_ptr<ReferenceFile> open(const std::filesystem::path& path,
                                             const ReferenceKey& expected);
  at::Tensor logprobs(int64_t first_window, const at::Tensor& input) override;

 private:
  std::shared_ptr<SafetensorsFile> file_;
  int64_t first_ = 0;  // first scored position of a window
};

// Log-probability rows [n, V] ↔ the codes, offsets and steps stored (exposed for tests).
struct EncodedRows {
  at::Tensor codes, lo, step;
};
EncodedRows encode_logprob_rows(const at::Tensor& logp);
at::Tensor decode_logprob_rows(const EncodedRows& e);

}  // namespace hqq
