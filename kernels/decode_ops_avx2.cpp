// The decode loops compiled for avx2 (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS decode_avx2
#include "kernels/decode_ops_impl.h"

namespace hqq::kernels {
HQQ_DECODE_TABLE(kDecodeOps_avx2, "avx2");
}  // namespace hqq::kernels
