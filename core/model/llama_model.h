#pragma once
// A Llama-family decoder (llama, mistral, qwen2, qwen3, phi3, gemma2) following the Hugging Face
// transformers semantics: RMSNorm computed in fp32, rotate-half RoPE, grouped-query attention,
// gated MLP (SwiGLU or GeGLU), with each family's variations read from ModelConfig (per-head q/k
// norms, sandwich norms, soft-capping, per-layer sliding windows; Phi-3's fused projections are
// split at load, see fused_projections.h).
// Every projection is a Linear behind the common interface; a LinearFactory decides how each is
// built (dense from the checkpoint, quantized, LoRA-wrapped...) without touching this code.
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/base/progress.h"
#include "core/io/checkpoint.h"
#include "core/model/decode_profile.h"
#include "core/model/kv_cache.h"
#include "core/model/linear.h"
#include "core/model/model_config.h"
#include "core/model/rope.h"

namespace hqq {

class DecodeWorkspace;

// Builds the layer stored under `prefix` (e.g. "model.layers.0.self_attn.q_proj"), whose weight
// has shape [out, in], computing in `dtype`.
using LinearFactory = std::function<std::unique_ptr<Linear>(
    const Checkpoint& ckpt, const std::string& prefix, int64_t out, int64_t in, bool has_bias,
    at::ScalarType dtype)>;

// Dense layers from the checkpoint, zero-copy when the stored dtype is the compute dtype.
std::unique_ptr<Linear> make_dense_linear(const Checkpoint& ckpt, const std::string& prefix,
                                          int64_t out, int64_t in, bool has_bias,
                                          at::ScalarType dtype);

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute dtype: fp32 or bf16 on CPU
  LinearFactory linear_factory;       // empty: make_dense_linear
};

struct DecoderLayer {
  at::Tensor input_norm, post_attention_norm;
  at::Tensor q_norm, k_norm;                               // qwen3, [head_dim]
  at::Tensor pre_feedforward_norm, post_feedforward_norm;  // gemma2
  std::unique_ptr<Linear> q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

// A named slot holding one of the model's linear layers; replacing *slot swaps the layer.
struct LinearSlot {
  std::string name;  // e.g. "model.layers.3.mlp.down_proj"
  std::unique_ptr<Linear>* slot;
};

class LlamaModel {
 public:
  static LlamaModel load(const Checkpoint& ckpt, const ModelConfig& config,
                         const LoadOptions& opts = {}, const JobContext& job = {});
  // A fresh model with HF's initialisation (normal(0, 0.02) weights, unit norms, zero biases).
  static LlamaModel random(const ModelConfig& config, uint64_t seed,
                           at::ScalarType dtype = at::kFloat);

  // tokens: [B, T] int64. With a cache, positions continue from cache->length() and the cache
  // grows by T; without, positions start at 0. Returns logits [B, T, vocab] in fp32.
  // `profile`: stage times are added to it (see decode_profile.h).
  at::Tensor forward(const at::Tensor& tokens, KvCache* cache = nullptr,
                     DecodeProfile* profile = nullptr) const;
  // The final hidden states [B, T, hidden] (after the last norm), in the compute dtype.
  at::Tensor hidden_states(const at::Tensor& tokens, KvCache* cache = nullptr,
                           DecodeProfile* profile = nullptr) const;
  at::Tensor logits(const at::Tensor& hidden) const;

  // Whether decode() runs this model: every projection has a row product (linear.h), the
  // compute dtype is fp32 or bf16 and the weights are on the CPU.
  bool can_decode() const;
  // One token after what `cache` holds (batch 1): the fused decode step of decode_step.cpp, one
  // parallel region per token, no tensor allocated. Returns ws's logits [vocab], fp32; the
  // cache grows by one. Same result as forward() within the kernels' rounding.
  const float* decode(int64_t token, KvCache& cache, DecodeWorkspace& ws,
                      DecodeProfile* profile = nullptr) const;

  KvCache make_cache(int64_t batch, int64_t capacity) const;
  const ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  std::vector<LinearSlot> linear_slots();
  // Every tensor of the model by checkpoint name ("model.norm.weight", ...), as replaceable
  // slots; a tied lm_head is not listed twice. Frozen (quantized) layers contribute nothing.
  std::vector<std::pair<std::string, at::Tensor*>> named_parameters();
  // After embed_tokens was replaced: point a tied lm_head at it again.
  void retie_embeddings();
  // The embedding rows of `tokens` ([..., hidden] in the compute dtype): dense, or dequantized
  // one row per token from a quantized matrix (quantize --embed-bits / a tied --lm-head-bits).
  at::Tensor embed(const at::Tensor& tokens) const;
  // The quantized matrix embedding lookups read (the lm_head itself when tied), or nullptr when
  // the embedding is a dense tensor.
  const Linear* quantized_embedding() const;

  // Recompute each decoder layer in backward instead of keeping its activations (training only).
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  // One decoder layer (public for the checkpointing autograd function).
  at::Tensor decoder_layer(const at::Tensor& h, int64_t index, int64_t start, const at::Tensor& cos,
                           const at::Tensor& sin, KvCache* cache,
                           DecodeProfile* profile = nullptr) const;

 private:
  at::Tensor checkpointed_layer(const at::Tensor& h, int64_t index, const at::Tensor& cos,
                                const at::Tensor& sin) const;
  at::Tensor attention(const DecoderLayer& layer, int64_t index, const at::Tensor& x, int64_t start,
                       const at::Tensor& cos, const at::Tensor& sin, KvCache* cache,
                       DecodeProfile* profile) const;
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight,
                      DecodeProfile* profile = nullptr) const;
  at::Tensor mlp(const DecoderLayer& layer, const at::Tensor& x, DecodeProfile* profile) const;

  friend class DecodeWorkspace;
  ModelConfig config_;
  at::ScalarType dtype_ = at::kFloat;
  at::Tensor embed_tokens_, final_norm_;  // embed_tokens_ undefined when it is quantized
  std::unique_ptr<Linear> embed_q_;       // a quantized embedding of its own (untied models)
  std::unique_ptr<Linear> lm_head_;
  std::vector<DecoderLayer> layers_;
  std::shared_ptr<RotaryEmbedding> rope_;
  bool gradient_checkpointing_ = false;
};

}  // namespace hqq
