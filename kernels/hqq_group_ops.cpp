#include "kernels/hqq_group_ops.h"

#include "kernels/cpu_features.h"

namespace hqq::kernels {

extern const GroupOps kGroupOps_scalar;
extern const GroupOps kGroupOps_avx2;
extern const GroupOps kGroupOps_avx512;

const GroupOps& group_ops_scalar() {
  return kGroupOps_scalar;
}

const GroupOps& group_ops() {
  static const GroupOps& chosen = []() -> const GroupOps& {
    const std::string family = best_kernel_family(detect_cpu_features());
    if (family == "avx512") return kGroupOps_avx512;
    if (family == "avx2") return kGroupOps_avx2;
    return kGroupOps_scalar;
  }();
  return chosen;
}

}  // namespace hqq::kernels
