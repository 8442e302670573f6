#pragma once
// The two-level solver: codes, sub-group meta codes and the fp16 super pair chosen together,
// calibration-free. Per super-group it starts from today's per-group HQQ solution (the improved
// optimizer, fp16 scale and zero per sub-group), tries a few grids for the meta codes, then
// alternates, with the meta always quantized inside the loop:
//   1. per sub-group: weighted least squares of (scale, zero) for the current codes, then the
//      best of the neighbouring integer meta codes, each judged with its own nearest codes;
//   2. per super-group: the fp16 pair (d, e) by weighted least squares for the integer meta
//      codes and codes (ŵ = d·(sq·q) − (d·e)·(sq·zq) is linear in d and d·e);
// accepting a step only when the weighted squared error falls. The start includes today's
// solution with its meta rounded to the grid, so the result is never worse than that.
#include <ATen/ATen.h>

#include <string>

#include "core/quant/hqq_quantizer.h"
#include "core/quant/twolevel_format.h"

namespace hqq {

enum class TwoLevelWeighting { Uniform, Magnitude };

struct TwoLevelSolverOptions {
  int iters = 8;
  // Magnitude: each weight's error counts in proportion to |w| + rms of its super-group (large
  // weights matter more to the output; no calibration data involved).
  TwoLevelWeighting weighting = TwoLevelWeighting::Magnitude;
  // Optional [in] weight per input channel (calibration.h), multiplied into the weighting and
  // given to the per-group start; undefined: none (calibration-free).
  at::Tensor input_importance;
};

// The two-level parameters a QuantConfig with scale_bits > 0 describes.
TwoLevelParams twolevel_params(const QuantConfig& c);

// W [out, in] float. Throws InputError naming `name` for shapes or values that do not fit.
TwoLevelTensor quantize_twolevel(const at::Tensor& w, const TwoLevelParams& p,
                                 const std::string& name = "tensor",
                                 const TwoLevelSolverOptions& o = {}, const JobContext& job = {});

// The importance the solver weighs each weight's squared error with ([out, in] fp32).
at::Tensor twolevel_importance(const at::Tensor& w, const TwoLevelParams& p,
                               TwoLevelWeighting weighting);
// Σ imp · (w − ŵ)², in double.
double weighted_sq_error(const at::Tensor& w, const at::Tensor& w_hat, const at::Tensor& imp);

// Today's HQQ solution (improved optimizer, fp16 scale and zero per sub-group) with its scale
// and zero simply rounded onto the two-level grid (d = max scale / (2^scale_bits − 1), e = max
// zero / (2^zero_bits − 1) per super-group), codes kept: what the solver must beat.
TwoLevelTensor round_meta_of_hqq(const at::Tensor& w, const TwoLevelParams& p);

}  // namespace hqq
