#pragma once
// The inner loops of the HQQ optimizers, on one contiguous group of weights. Compiled once per
// instruction set (scalar, AVX2, AVX-512) and chosen at run time by group_ops(), so one binary
// is fast everywhere. Reductions may be reassociated (vectorised): results agree with a
// sequential loop to float rounding, not bit for bit.
#include <cstdint>

namespace hqq::kernels {

struct GroupOps {
  const char* isa;
  // Range of the group.
  void (*range)(const float* w, int64_t g, float* mn, float* mx);
  // One z-update of the reference half-quadratic solver with inverse scale s: returns
  // sum |w - (q - z)/s| for the incoming z and replaces *z by mean(q - (w - shrink(w - r)) * s).
  double (*reference_step)(const float* w, int64_t g, float s, float* z, float qmax, float beta,
                           float lp);
  // Squared error of dequantizing with step a and zero z (nearest codes).
  double (*sq_error)(const float* w, int64_t g, float a, float z, float qmax);
  // Least-squares statistics of the nearest codes q for (1/a, z): {sum q, sum w, sum q², sum q w}.
  void (*ls_stats)(const float* w, int64_t g, float inv_a, float z, float qmax, double out[4]);
  // codes = clamp(round(w * mul + z), 0, qmax).
  void (*encode)(const float* w, int64_t g, float mul, float z, float qmax, uint8_t* codes);
};

const GroupOps& group_ops();  // the widest variant this CPU runs
const GroupOps& group_ops_scalar();

}  // namespace hqq::kernels
