#include "kernels/decode_ops.h"

#include "kernels/cpu_features.h"

namespace hqq::kernels {

extern const DecodeOps kDecodeOps_scalar;
extern const DecodeOps kDecodeOps_avx2;
extern const DecodeOps kDecodeOps_avx512;

const DecodeOps& decode_ops_scalar() {
  return kDecodeOps_scalar;
}

const DecodeOps& decode_ops() {
  static const DecodeOps& chosen = []() -> const DecodeOps& {
    const std::string family = best_kernel_family(detect_cpu_features());
    if (family == "avx512") return kDecodeOps_avx512;
    if (family == "avx2") return kDecodeOps_avx2;
    return kDecodeOps_scalar;
  }();
  return chosen;
}

}  // namespace hqq::kernels
