#pragma once
// A linear layer stored in the two-level HQQ format (twolevel_format.h). Decode products (up to
// kernels::kMaxGemvRows activation rows) read the stored layout directly; longer inputs
// multiply tiles of dequantized rows. No full-precision copy of the weight is kept.
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/linear.h"
#include "core/quant/incoherence.h"
#include "core/quant/twolevel_format.h"
#include "kernels/twolevel_ops.h"

namespace hqq {

class Checkpoint;

class TwoLevelLinear final : public Linear {
 public:
  // `rotation`: the stored weight is W R (incoherence.h); products rotate x first and
  // dequantized() returns the weight in the original basis.
  TwoLevelLinear(TwoLevelPacked packed, at::Tensor bias, at::ScalarType compute_dtype,
                 Rotation rotation = {});

  at::Tensor forward(const at::Tensor& x) const override;
  at::Tensor forward_product(const at::Tensor& x) const;  // x Ŵᵀ, no bias
  int64_t in_features() const override { return p_.in; }
  int64_t out_features() const override { return p_.out; }
  std::string kind() const override { return "hqq-twolevel"; }
  int64_t storage_bytes() const override;
  bool has_row_product() const override { return !rotation_.enabled(); }
  void row_product(const float* x, float* y, int64_t o0, int64_t o1) const override;

  at::Tensor dequantized(at::ScalarType dtype = at::kFloat) const;
  // Codes possibly interleaved (TwoLevelPacked::interleaved); twolevel_state_dict stores them
  // in the file's order.
  const TwoLevelPacked& packed() const { return p_; }
  const at::Tensor& bias() const { return bias_; }
  const Rotation& rotation() const { return rotation_; }
  kernels::TwoLevelView view() const;  // of the stored (rotated, when rotated) weight

 private:
  TwoLevelPacked p_;
  at::Tensor bias_;
  at::ScalarType compute_dtype_;
  Rotation rotation_;
};

// The tensors of one layer, keyed by suffix: tl_codes, tl_meta, tl_super, tl_params, tl_shape,
// tl_rotation (rotated layers) and bias (docs/FORMATS.md).
std::vector<std::pair<std::string, at::Tensor>> twolevel_state_dict(const TwoLevelLinear& layer);
// Their dtypes and shapes before quantizing (streaming writers); validates the parameters.
std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>>
twolevel_state_layout(const std::vector<int64_t>& shape, const TwoLevelParams& p, bool has_bias,
                      const std::string& name = "layer", bool rotated = false);

// True when the checkpoint stores `prefix` as a two-level layer (has `prefix.tl_codes`).
bool is_twolevel_layer(const Checkpoint& ckpt, const std::string& prefix);
// Reads one back, validating every piece against the others. Throws InputError.
std::unique_ptr<TwoLevelLinear> load_twolevel_linear(const Checkpoint& ckpt,
                                                     const std::string& prefix, int64_t out,
                                                     int64_t in, bool has_bias,
                                                     at::ScalarType compute_dtype);

}  // namespace hqq
