#pragma once
// What the CPU can execute, detected once at run time so that one binary carries several kernel
// variants and picks the widest one the machine supports.
#include <string>

namespace hqq::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;  // u8×s8 dot products (vpdpbusd)
};

CpuFeatures detect_cpu_features();

// "avx512", "avx2" or "scalar": the kernel family that will run on this machine.
std::string best_kernel_family(const CpuFeatures& f);

// A short human-readable list, e.g. "avx2 fma f16c avx512f avx512bw".
std::string describe(const CpuFeatures& f);

}  // namespace hqq::kernels
