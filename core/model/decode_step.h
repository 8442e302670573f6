#pragma once
// The buffers of LlamaModel::decode (one token, batch 1), made once per generation so that a
// decode step allocates nothing: the fp32 activations of one layer, the norm weights in fp32,
// the logits and per-thread attention scratch.
#include <cstdint>
#include <vector>

#include "core/model/llama_model.h"

namespace hqq {

class DecodeWorkspace {
 public:
  explicit DecodeWorkspace(const LlamaModel& model);
  const float* logits() const { return logits_.data(); }

 private:
  friend class LlamaModel;
  struct Norms {
    std::vector<float> input, post_attention, q, k, pre_feedforward, post_feedforward;
  };
  std::vector<Norms> layers_;
  std::vector<float> final_norm_, inv_freq_, cos_, sin_;
  std::vector<float> h0_, q_, k_, v_, att_, o_, gate_, up_, logits_;
  std::vector<float> h_, x_;   // [threads][hidden]: each thread's residual stream and norm
  std::vector<float> scores_;  // [threads][positions]
};

}  // namespace hqq
