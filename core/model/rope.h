#pragma once
// Rotary position embeddings with Hugging Face semantics: rotate-half pairing (dimension i with
// i + d/2), inverse frequencies theta^(-2i/d) adjusted by rope_scaling (linear, llama3).
#include <ATen/ATen.h>

#include "core/model/model_config.h"

namespace hqq {

// [head_dim / 2] fp32 inverse frequencies after scaling.
at::Tensor rope_inverse_frequencies(const ModelConfig& c);

class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const ModelConfig& c);
  // cos and sin for positions [start, start + n): each [n, head_dim] in `dtype`.
  std::pair<at::Tensor, at::Tensor> cos_sin(int64_t start, int64_t n, at::ScalarType dtype,
                                            const at::Device& device) const;
  // x: [B, heads, T, head_dim]; cos/sin: [T, head_dim].
  static at::Tensor apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
  const at::Tensor& inverse_frequencies() const { return inv_freq_; }

 private:
  at::Tensor inv_freq_;  // [head_dim / 2], fp32, CPU
};

}  // namespace hqq
