#pragma once
// A linear layer whose weight is stored HQQ-quantized: codes plus per-group scale and zero.
// Layers grouped along the input (axis 1) keep their codes in a layout of
// kernels/lowbit_matrix.h and multiply with the fused low-bit kernels: up to 8 activation rows
// (decode) straight from the codes, more rows (prefill, training) through tiles of a few hundred
// dequantized rows and a GEMM. Other layers (axis 0) keep the on-disk packing and dequantize per
// product. No full-precision copy of a weight is ever kept.
#include <ATen/ATen.h>

#include <map>
#include <string>

#include "core/model/linear.h"
#include "core/quant/hqq_quantizer.h"
#include "kernels/lowbit_ops.h"

namespace hqq {

class Checkpoint;

class HqqLinear final : public Linear {
 public:
  // From a freshly quantized tensor (codes get packed). `fuse`: build the kernel layout (off
  // for a layer that is only written to disk).
  HqqLinear(const QuantizedTensor& q, at::Tensor bias, at::ScalarType compute_dtype,
            bool fuse = true);
  // From stored parts (W_q packed as on disk).
  HqqLinear(at::Tensor packed, at::Tensor scale, at::Tensor zero, std::vector<int64_t> shape,
            int nbits, int64_t group_size, int axis, at::Tensor bias, at::ScalarType compute_dtype,
            bool fuse = true);

  at::Tensor forward(const at::Tensor& x) const override;
  // x Ŵᵀ without the bias: what forward runs, and what training's custom autograd calls.
  at::Tensor forward_product(const at::Tensor& x) const;
  int64_t in_features() const override { return shape_[1]; }
  int64_t out_features() const override { return shape_[0]; }
  std::string kind() const override { return "hqq"; }
  int64_t storage_bytes() const override;
  bool has_row_product() const override { return fused(); }
  void row_product(const float* x, float* y, int64_t o0, int64_t o1) const override;
  bool has_weight_rows() const override { return fused(); }
  void weight_rows(const int64_t* ids, int64_t n, float* out) const override;

  // The weight [out, in] in `dtype` (fp32 by default), rebuilt from the codes.
  at::Tensor dequantized(at::ScalarType dtype = at::kFloat) const;
  at::Tensor codes() const;  // unpacked, reference grouped layout
  int nbits() const { return nbits_; }
  int64_t group_size() const { return group_size_; }
  int axis() const { return axis_; }
  at::Tensor packed() const;  // as stored on disk (rebuilt from the kernel layout when needed)
  // Whether products run on the fused low-bit kernels (else: dequantize, then matmul).
  bool fused() const { return lowbit_.defined(); }
  // The kernel variant the fused products run on (nullptr when not fused).
  const kernels::LowbitOps* kernel() const;
  const at::Tensor& scale() const { return scale_; }
  const at::Tensor& zero() const { return zero_; }
  const at::Tensor& bias() const { return bias_; }

 private:
  int64_t grouped_rows() const;
  kernels::LowbitMatrix lowbit_view() const;
  at::Tensor packed_, scale_, zero_, bias_;
  at::Tensor lowbit_;  // codes in the kernels' layout, replacing packed_ when defined
  kernels::LowbitLayout layout_ = kernels::LowbitLayout::BitPlanes16;
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
