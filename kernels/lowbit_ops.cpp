#include "kernels/lowbit_ops.h"

#include "kernels/cpu_features.h"

#include <cstdlib>
#include <string>

namespace hqq::kernels {

extern const LowbitOps kLowbitOps_scalar;
extern const LowbitOps kLowbitOps_avx2;
extern const LowbitOps kLowbitOps_avx2int8;
extern const LowbitOps kLowbitOps_avx512;
extern const LowbitOps kLowbitOps_avx512vnni;

const LowbitOps& lowbit_ops_scalar() {
  return kLowbitOps_scalar;
}

std::vector<const LowbitOps*> lowbit_ops_variants() {
  static const std::vector<const LowbitOps*> variants = [] {
    std::vector<const LowbitOps*> v{&kLowbitOps_scalar};
    const std::string family = best_kernel_family(detect_cpu_features());
    if (family == "avx2" || family == "avx512") v.push_back(&kLowbitOps_avx2);
    // int8 activations on AVX2 (2 and 4 bits): the fastest kernel where AVX-512 is missing. On an
    // AVX-512 CPU it is listed (and tested) but the wider variants after it serve first.
    if (family == "avx2" || family == "avx512") v.push_back(&kLowbitOps_avx2int8);
    if (family == "avx512") v.push_back(&kLowbitOps_avx512);
    if (family == "avx512" && detect_cpu_features().avx512vnni) v.push_back(&kLowbitOps_avx512vnni);
    // HQQ_LOWBIT_KERNELS=exact keeps only the kernels that compute in fp32 throughout (no int8
    // activations), for comparisons; =scalar keeps only the portable one.
    const char* env = std::getenv("HQQ_LOWBIT_KERNELS");
    const std::string policy = env ? env : "";
    if (policy == "exact") std::erase_if(v, [](const LowbitOps* o) { return !o->exact; });
    if (policy == "scalar") v.resize(1);
    return v;
  }();
  return variants;
}

LowbitLayout preferred_lowbit_layout(int nbits, int64_t in, int64_t group) {
  LowbitMatrix probe;
  probe.in = in;
  probe.group = group;
  probe.nbits = nbits;
  probe.layout = LowbitLayout::Blocks64;
  return lowbit_ops_variants().back()->supports(probe) ? LowbitLayout::Blocks64
                                                       : LowbitLayout::BitPlanes16;
}

const LowbitOps& lowbit_ops(const LowbitMatrix& w) {
  const auto& v = lowbit_ops_variants();
  for (auto it = v.rbegin(); it != v.rend(); ++it)
    if ((*it)->supports(w)) return **it;
  return kLowbitOps_scalar;
}

}  // namespace hqq::kernels
