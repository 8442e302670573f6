// The low-bit kernels compiled for AVX-512 (flags in kernels/CMakeLists.txt).
#define HQQ_LOWBIT_NS avx512
#include "kernels/lowbit_ops_impl.h"

namespace hqq::kernels {
extern const LowbitOps kLowbitOps_avx512 = {"avx512", true, avx512::supports, avx512::gemv,
                                            avx512::dequantize};
}  // namespace hqq::kernels
