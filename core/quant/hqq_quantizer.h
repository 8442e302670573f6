#pragma once
// HQQ: calibration-free quantization of a weight tensor to 1/2/3/4/8 bits with a scale and a
// zero-point per group (reference §1-§2). Three optimizers:
//  - Off:       min/max rounding (RTN).
//  - Reference: the half-quadratic proximal solver of the reference implementation, with its
//               defaults and quirks (lp 0.7, beta 10, kappa 1.01, 20 iterations, global early stop
//               on the L1 error, z-only updates, raw weight units).
//  - Improved:  ours, still calibration-free: the reference result and several shrunken-range
//               starts compete per group, then alternating least squares (optimal scale and
//               offset for the codes, optimal codes for the scale and offset) lowers the squared
//               error monotonically. It never does worse than the reference on any group.
// Two engines run the same math: Fused (default: one cache-resident, vectorisable, multi-threaded
// pass per group) and Aten (the reference's exact op sequence on whole tensors, for bit-for-bit
// comparison with the Python reference on the same libtorch).
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/base/job.h"

namespace hqq {

enum class HqqOptimizer { Off, Reference, Improved };
enum class HqqEngine { Fused, Aten };

struct QuantConfig {
  int nbits = 4;
  int64_t group_size = 64;  // 0: one group per output row (axis 1) or input column (axis 0)
  int axis = 1;
  bool round_zero = false;
  HqqOptimizer optimizer = HqqOptimizer::Improved;
  HqqEngine engine = HqqEngine::Fused;
  float lp_norm = 0.7f;
  float beta = 10.0f;
  float kappa = 1.01f;
  int iters = 20;
  at::ScalarType meta_dtype = at::kHalf;  // storage dtype of scale and zero
  // scale_bits > 0: the two-level format (twolevel_format.h) instead: sub-group scale and zero
  // as scale_bits/zero_bits integers under an fp16 pair per super_group weights (axis 1 only).
  int scale_bits = 0, zero_bits = 0;
  int64_t super_group = 256;
  bool rotate = false;  // two-level only: randomized Hadamard rotation of the input (incoherence.h)
  bool two_level() const { return scale_bits > 0; }
};

// Codes in the reference's grouped layout, unpacked, with their meta-data.
struct QuantizedTensor {
  at::Tensor codes;            // uint8: [numel/g, g] (axis 1) or [g, numel/g] (axis 0)
  at::Tensor scale;            // meta_dtype: dequantization step, [numel/g, 1] or [1, numel/g]
  at::Tensor zero;             // meta_dtype, same shape
  std::vector<int64_t> shape;  // of the original tensor
  int nbits = 4;
  int64_t group_size = 64;  // the actual group length (per-channel resolved)
  int axis = 1;
  int iterations = 0;  // optimizer iterations run
};

const char* optimizer_name(HqqOptimizer o);
HqqOptimizer optimizer_from_name(const std::string& s);  // throws InputError

// Quantizes a 2-D (or any) float tensor; `name` labels errors (e.g. the checkpoint key).
// Throws InputError for unsupported settings, indivisible shapes and non-finite values. The
// fused RTN and improved solvers run in slices of rows and call job.check() between them, so a
// stop lands within ~50 ms even inside one large layer (an lm_head of 128k × 8k). The reference
// solver's early stop is global over the tensor; it cannot be sliced and checks only on entry.
// `importance` (optional, [in] for a 2-D [out, in] weight, >= 0): how much each input channel
// matters (e.g. calibration.h's mean squared activation); the improved solver then minimises
// Σ importance[i] · error² per group instead of the plain squared error (axis 1 only).
QuantizedTensor quantize(const at::Tensor& weight, const QuantConfig& cfg,
                         const std::string& name = "tensor", const JobContext& job = {},
                         const at::Tensor& importance = {});

// (codes - zero) * scale reshaped to the original shape, in `dtype`.
at::Tensor dequantize(const QuantizedTensor& q, at::ScalarType dtype = at::kFloat);

// The effective group length for a tensor shape, validating divisibility and packing rules.
int64_t resolve_group_size(const std::vector<int64_t>& shape, const QuantConfig& cfg,
                           const std::string& name);

// ||W - Ŵ||_F / ||W||_F computed in double.
double relative_error(const at::Tensor& w, const at::Tensor& w_hat);

}  // namespace hqq
