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
extern const LowbitOps kLowbitOps_avx512vnni16;

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
    if (family == "avx512" && detect_cpu_features().avx512vnni) {
      v.push_back(&kLowbitOps_avx512vnni);
      v.push_back(&kLowbitOps_avx512vnni16);
    }
    // HQQ_LOWBIT_KERNELS=exact keeps only the kernels that compute in fp32 throughout (no int8
    // activations), for comparisons; =scalar keeps only the portable one.
    const char* env = std::getenv("HQQ_LOWBIT_KERNELS");
    const std::string policy = env ? env : "";
    if (policy == "exact") std::erase_if(v, [](const LowbitOps* o) { return !o->exact; });
    if (policy == "scalar") v.resize(1);
    // =blocks64: not the interleaved layout (the kernels before it, for before/after figures).
    if (policy == "blocks64") std::erase(v, &kLowbitOps_avx512vnni16);
    return v;
  }();
  return variants;
}

// The layout whose best kernel comes latest in the variants' list (the fastest one); layouts are
// tried newest first, so a tie goes to the newer.
LowbitLayout preferred_lowbit_layout(int nbits, int64_t in, int64_t group) {
  const auto& v = lowbit_ops_variants();
  LowbitLayout best = LowbitLayout::BitPlanes16;
  size_t best_rank = 0;
  for (LowbitLayout layout :
       {LowbitLayout::Blocks64x16, LowbitLayout::Blocks64, LowbitLayout::BitPlanes16}) {
    LowbitMatrix probe;
    probe.in = in;
    probe.in_padded = round_up(in, block_of(layout));
    probe.group = group;
    probe.nbits = nbits;
    probe.layout = layout;
    for (size_t r = v.size(); r-- > 0;)
      if (v[r]->supports(probe)) {
        if (r > best_rank) best_rank = r, best = layout;
        break;
      }
  }
  return best;
}

const LowbitOps& lowbit_ops(const LowbitMatrix& w) {
  const auto& v = lowbit_ops_variants();
  for (auto it = v.rbegin(); it != v.rend(); ++it)
    if ((*it)->supports(w)) return **it;
  return kLowbitOps_scalar;
}

}  // namespace hqq::kernels
