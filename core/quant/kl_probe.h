#pragma once
// How much the model loses when one layer's weight is replaced: KL(full ‖ model with that one
// layer changed), the mean over probe tokens. The planner uses it as each layer's error, since
// the sum of relative weight errors does not predict the loss: layers differ by orders of
// magnitude in how much an equal weight error moves the output (the first and last layers, v_proj
// and down_proj more than the rest), and only the model itself can say by how much.
//
// The probe tokens are sampled from the full-precision model itself (temperature 1, from BOS,
// seeded), so the measure needs no text: it is calibration-free like HQQ, and it is the expected
// KL over text the model finds likely, the loss the quantized model shows on such text. KL of
// small perturbations adds up over layers (second order: KL ≈ ½ δᵀFδ), so the sum over layers of
// these one-at-a-time figures predicts the KL of the whole plan.
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/base/job.h"
#include "core/io/checkpoint.h"
#include "core/model/llama_model.h"

namespace hqq {

struct KlProbeOptions {
  int64_t sequences = 4;  // sampled sequences
  int64_t length = 128;   // tokens each (the first is BOS)
  uint64_t seed = 0;
};

class KlProbe {
 public:
  KlProbe(const std::filesystem::path& model_dir, const ModelConfig& config,
          const KlProbeOptions& o = {}, const JobContext& job = {});
  // Mean KL(full ‖ model) over the probe's predictions, with `module`'s weight (fp32 [out, in])
  // replaced by `w_hat` and every other layer full precision.
  double kl_with(const std::string& module, const at::Tensor& w_hat);
  // The same with the output matrix replaced: lm_head, and for tied embeddings the embedding
  // rows too (one matrix serves both, as a quantized tied head does).
  double kl_with_head(const at::Tensor& w_hat);
  // With the token embedding's rows replaced (untied: the output matrix stays).
  double kl_with_embedding(const at::Tensor& w_hat);
  const at::Tensor& tokens() const { return tokens_; }  // [sequences, length] int64

 private:
  Checkpoint ckpt_;
  LlamaModel model_;
  at::Tensor tokens_, ref_logp_;
  at::Tensor logp();                           // the model's log-probabilities on tokens_
  double kl_of(const at::Tensor& logp) const;  // mean KL(ref ‖ logp)
};

}  // namespace hqq
