// The decode loops compiled for avx512 (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS decode_avx512
#include "kernels/decode_ops_impl.h"

namespace hqq::kernels {
HQQ_DECODE_TABLE(kDecodeOps_avx512, "avx512");
}  // namespace hqq::kernels
