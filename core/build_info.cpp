#include "core/build_info.h"

#include <torch/version.h>

#include "kernels/cpu_features.h"
#include "kernels/lowbit_ops.h"

namespace hqq {

std::string hqq_version() {
  return HQQ_VERSION;
}
std::string torch_version() {
  return TORCH_VERSION;
}
std::string cpu_summary() {
  auto f = kernels::detect_cpu_features();
  return kernels::best_kernel_family(f) + ", low-bit products " +
         kernels::lowbit_ops_variants().back()->isa + " (" + kernels::describe(f) + ")";
}

}  // namespace hqq
