// The low-bit kernels compiled for AVX2 + FMA + F16C (flags in kernels/CMakeLists.txt).
#define HQQ_LOWBIT_NS avx2
#include "kernels/lowbit_ops_impl.h"

namespace hqq::kernels {
extern const LowbitOps kLowbitOps_avx2 = {"avx2", true, avx2::supports, avx2::gemv,
                                          avx2::dequantize};
}  // namespace hqq::kernels
