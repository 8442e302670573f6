#pragma once
// Versions of the engine and what it was built with, for --version and the About box.
#include <string>

namespace hqq {

std::string hqq_version();
std::string torch_version();
// "avx512", "avx2" or "scalar", and the CPU features behind it.
std::string cpu_summary();
// The kernel variants this CPU runs, e.g. "avx512, low-bit products avx512vnni".
std::string kernel_summary();

}  // namespace hqq
