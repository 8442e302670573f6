// The portable low-bit product: any group size, any CPU. Also the reference the SIMD variants
// are tested against.
#include "kernels/lowbit_ops.h"

namespace hqq::kernels {

namespace {

bool supports_all(const LowbitMatrix&) {
  return true;
}

void gemv(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
          int64_t ldy, int64_t o0, int64_t o1) {
  const int64_t groups = w.groups_per_row();
  for (int64_t o = o0; o < o1; ++o) {
    for (int64_t m = 0; m < rows; ++m) {
      const float* xm = x + m * w.in_padded;
      double acc = 0;
      for (int64_t g = 0; g < groups; ++g) {
        const float s = half_to_float(w.scale[o * groups + g]);
        const float z = half_to_float(w.zero[o * groups + g]);
        float dot = 0;  // x·q over the group: the codes are small integers
        for (int64_t i = g * w.group; i < (g + 1) * w.group; ++i)
          dot += xm[i] * static_cast<float>(lowbit_code_at(w, o, i));
        acc += static_cast<double>(s) * dot - static_cast<double>(s) * z * xsum[m * groups + g];
      }
      y[m * ldy + o] = static_cast<float>(acc);
    }
  }
}

void dequantize(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  const int64_t groups = w.groups_per_row();
  for (int64_t o = o0; o < o1; ++o) {
    float* row = out + (o - o0) * ld;
    for (int64_t g = 0; g < groups; ++g) {
      const float s = half_to_float(w.scale[o * groups + g]);
      const float z = half_to_float(w.zero[o * groups + g]);
      for (int64_t i = g * w.group; i < (g + 1) * w.group; ++i)
        row[i] = (static_cast<float>(lowbit_code_at(w, o, i)) - z) * s;
    }
  }
}

}  // namespace

extern const LowbitOps kLowbitOps_scalar = {"scalar", true, supports_all, gemv, dequantize};

}  // namespace hqq::kernels
