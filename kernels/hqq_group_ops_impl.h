#pragma once
// Body of the group loops; included by one translation unit per instruction set, each compiled
// with its own -m flags inside its own namespace (HQQ_ISA_NS).
#include <algorithm>
#include <cmath>

#include "kernels/hqq_group_ops.h"

namespace hqq::kernels::HQQ_ISA_NS {

inline float clampq(float v, float qmax) {
  return std::min(std::max(v, 0.0f), qmax);
}

void range(const float* w, int64_t g, float* mn, float* mx) {
  float lo = w[0], hi = w[0];
  for (int64_t i = 0; i < g; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  *mn = lo;
  *mx = hi;
}

double reference_step(const float* w, int64_t g, float s, float* z, float qmax, float beta,
                      float lp) {
  const float zc = *z;
  // Below this |x| the shrink is certainly zero (|x|^(2-p) <= 1/beta): with typical LLM weights
  // that is every element, so the vector loop ignores the shrink and a rare scalar pass adds it.
  const float thr = 0.999f * static_cast<float>(std::pow(1.0 / beta, 1.0 / (2.0 - lp)));
  float sum_abs = 0.0f, acc = 0.0f;
  int over = 0;
  for (int64_t i = 0; i < g; ++i) {
    float q = clampq(std::nearbyint(w[i] * s + zc), qmax);
    float x = w[i] - (q - zc) / s;
    float ax = std::fabs(x);
    sum_abs += ax;
    over += ax > thr;
    acc += q - w[i] * s;
  }
  if (over) {
    for (int64_t i = 0; i < g; ++i) {
      float q = clampq(std::nearbyint(w[i] * s + zc), qmax);
      float x = w[i] - (q - zc) / s;
      float ax = std::fabs(x);
      if (ax <= thr) continue;
      float v = ax - (1.0f / beta) * std::pow(ax, lp - 1.0f);
      if (v > 0.0f) acc += std::copysign(v, x) * s;
    }
  }
  *z = acc / static_cast<float>(g);
  return sum_abs;
}

double sq_error(const float* w, int64_t g, float a, float z, float qmax) {
  const float inv = 1.0f / a;
  float e = 0.0f;
  for (int64_t i = 0; i < g; ++i) {
    float q = clampq(std::nearbyint(w[i] * inv + z), qmax);
    float d = w[i] - (q - z) * a;
    e += d * d;
  }
  return e;
}

void ls_stats(const float* w, int64_t g, float inv_a, float z, float qmax, double out[4]) {
  float sq = 0, sw = 0, sqq = 0, sqw = 0;
  for (int64_t i = 0; i < g; ++i) {
    float q = clampq(std::nearbyint(w[i] * inv_a + z), qmax);
    sq += q;
    sw += w[i];
    sqq += q * q;
    sqw += q * w[i];
  }
  out[0] = sq, out[1] = sw, out[2] = sqq, out[3] = sqw;
}

void encode(const float* w, int64_t g, float mul, float z, float qmax, uint8_t* codes) {
  for (int64_t i = 0; i < g; ++i)
    codes[i] = static_cast<uint8_t>(clampq(std::nearbyint(w[i] * mul + z), qmax));
}

}  // namespace hqq::kernels::HQQ_ISA_NS
