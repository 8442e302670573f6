#include "core/base/build_info.h"

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
std::string kernel_summary() {
  return kernels::best_kernel_family(kernels::detect_cpu_features()) + ", low-bit products " +
         kernels::lowbit_ops_variants().back()->isa;
}

std::string cpu_summary() {
  return kernel_summary() + " (" + kernels::describe(kernels::detect_cpu_features()) + ")";
}

}  // namespace hqq
