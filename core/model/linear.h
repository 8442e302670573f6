#pragma once
// The one interface every linear layer of the model goes through. Dense weights, HQQ-quantized
// weights and LoRA-wrapped layers all implement it, so the model code never knows which it runs.
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hqq {

class Linear {
 public:
  virtual ~Linear() = default;
  // x: [..., in_features] in the compute dtype; returns [..., out_features] in the same dtype.
  virtual at::Tensor forward(const at::Tensor& x) const = 0;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  virtual std::string kind() const = 0;       // "dense", "hqq", "lora", ...
  virtual int64_t storage_bytes() const = 0;  // bytes the layer holds for its weights
  // The layer's own tensors that training may update, by name ("weight", "lora_A", ...), as
  // slots that can be replaced (e.g. by a trainable fp32 copy). Frozen layers return none.
  virtual std::vector<std::pair<std::string, at::Tensor*>> parameters() { return {}; }

  // The one-token decode path (LlamaModel::decode): y[o] = (x Wᵀ + b)[o] for o in [o0, o1) of
  // one fp32 activation row x [in_features], into fp32 y. It runs inside the caller's parallel
  // region, one row range per thread, so it calls no ATen operator and allocates at most
  // thread-local scratch. Layers without one (has_row_product() false) decode through forward().
  virtual bool has_row_product() const { return false; }
  virtual void row_product(const float* /*x*/, float* /*y*/, int64_t /*o0*/, int64_t /*o1*/) const {
  }
  // Rows of the weight as an embedding lookup reads them: out[i * in_features + j] = W[ids[i]][j]
  // in fp32, for n ids in [0, out_features). What a quantized embedding matrix serves lookups
  // with (one row dequantized per token, never the whole matrix). Layers without it
  // (has_weight_rows() false) cannot stand for an embedding.
  virtual bool has_weight_rows() const { return false; }
  virtual void weight_rows(const int64_t* /*ids*/, int64_t /*n*/, float* /*out*/) const {}
};

// y[o] += bias[o] for o in [o0, o1), bias fp32, bf16 or fp16 (nothing when undefined); for
// row_product implementations.
void add_bias_rows(const at::Tensor& bias, float* y, int64_t o0, int64_t o1);

// y = x Wᵀ + b with W [out, in], possibly a zero-copy view into a mapped checkpoint.
class DenseLinear final : public Linear {
 public:
  DenseLinear(at::Tensor weight, at::Tensor bias = {});
  at::Tensor forward(const at::Tensor& x) const override;
  int64_t in_features() const override { return weight_.size(1); }
  int64_t out_features() const override { return weight_.size(0); }
  std::string kind() const override { return "dense"; }
  int64_t storage_bytes() const override;
  std::vector<std::pair<std::string, at::Tensor*>> parameters() override;
  bool has_row_product() const override;
  void row_product(const float* x, float* y, int64_t o0, int64_t o1) const override;
  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }

 private:
  at::Tensor weight_, bias_;
};

}  // namespace hqq
