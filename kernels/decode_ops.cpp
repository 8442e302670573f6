#include "kernels/decode_ops.h"

#include "kernels/cpu_features.h"

namespace hqq::kernels {

extern const DecodeOps kDecodeOps_scalar;
extern const DecodeOps kDecodeOps_avx2;
extern const DecodeOps kDecodeOps_avx512;
extern const DecodeOps kDecodeOps_avx512bf16;

const DecodeOps& decode_ops_scalar() {
  return kDecodeOps_scalar;
}

const DecodeOps& decode_ops() {
  // The widest variant: the last of the list this CPU runs (one place decides what runs).
  static const DecodeOps& chosen = *decode_ops_variants().back();
  return chosen;
}

std::vector<const DecodeOps*> decode_ops_variants() {
  std::vector<const DecodeOps*> v{&kDecodeOps_scalar};
  const CpuFeatures f = detect_cpu_features();
  const std::string family = best_kernel_family(f);
  if (family == "avx2" || family == "avx512") v.push_back(&kDecodeOps_avx2);
  if (family == "avx512") v.push_back(&kDecodeOps_avx512);
  if (family == "avx512" && f.avx512bf16) v.push_back(&kDecodeOps_avx512bf16);
  return v;
}

}  // namespace hqq::kernels
