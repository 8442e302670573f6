#pragma once
// A linear layer whose weight is stored HQQ-quantized: packed codes plus per-group scale and
// zero, exactly as saved on disk. The weight is dequantized on the fly for each product in the
// compute dtype and dropped afterwards: no full-precision copy is ever kept.
#include <ATen/ATen.h>

#include <map>
#include <string>

#include "core/hqq_quantizer.h"
#include "core/linear.h"

namespace hqq {

class Checkpoint;

class HqqLinear final : public Linear {
 public:
  // From a freshly quantized tensor (codes get packed).
  HqqLinear(const QuantizedTensor& q, at::Tensor bias, at::ScalarType compute_dtype);
  // From stored parts (W_q packed as on disk).
  HqqLinear(at::Tensor packed, at::Tensor scale, at::Tensor zero, std::vector<int64_t> shape,
            int nbits, int64_t group_size, int axis, at::Tensor bias, at::ScalarType compute_dtype);

  at::Tensor forward(const at::Tensor& x) const override;
  int64_t in_features() const override { return shape_[1]; }
  int64_t out_features() const override { return shape_[0]; }
  std::string kind() const override { return "hqq"; }
  int64_t storage_bytes() const override;

  // The weight [out, in] in `dtype` (fp32 by default), rebuilt from the codes.
  at::Tensor dequantized(at::ScalarType dtype = at::kFloat) const;
  at::Tensor codes() const;  // unpacked, reference grouped layout
  int nbits() const { return nbits_; }
  int64_t group_size() const { return group_size_; }
  int axis() const { return axis_; }
  const at::Tensor& packed() const { return packed_; }
  const at::Tensor& scale() const { return scale_; }
  const at::Tensor& zero() const { return zero_; }
  const at::Tensor& bias() const { return bias_; }

 private:
  int64_t grouped_rows() const;
  at::Tensor packed_, scale_, zero_, bias_;
  std::vector<int64_t> shape_;
  int nbits_ = 4;
  int64_t group_size_ = 64;
  int axis_ = 1;
  at::ScalarType compute_dtype_ = at::kFloat;
};

// The tensors transformers' HQQ save_pretrained writes for one layer (reference §7.2), keyed by
// suffix ("W_q", "scale", "nbits", ...). `quantized_with` records the optimizer settings.
std::vector<std::pair<std::string, at::Tensor>> hqq_state_dict(const HqqLinear& layer,
                                                               const QuantConfig& quantized_with);
// Their dtypes and shapes, known before quantizing (for streaming writers).
std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>>
hqq_state_layout(const std::vector<int64_t>& shape, const QuantConfig& cfg, bool has_bias,
                 const std::string& name = "layer");

// True when the checkpoint stores `prefix` as an HQQ layer (has `prefix.W_q`).
bool is_hqq_layer(const Checkpoint& ckpt, const std::string& prefix);
// Reads an HQQ layer back; validates every piece against the others. Throws InputError.
std::unique_ptr<HqqLinear> load_hqq_linear(const Checkpoint& ckpt, const std::string& prefix,
                                           int64_t out, int64_t in, bool has_bias,
                                           at::ScalarType compute_dtype);

}  // namespace hqq
