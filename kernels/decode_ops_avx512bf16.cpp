// The decode loops compiled for avx512 with AVX512-BF16 (flags in kernels/CMakeLists.txt): the
// avx512 build with the bf16 GEMV on vdpbf16ps (decode_ops_impl.h says why).
#define HQQ_ISA_NS decode_avx512bf16
#define HQQ_DECODE_BF16_DOT 1
#include "kernels/decode_ops_impl.h"

namespace hqq::kernels {
HQQ_DECODE_TABLE(kDecodeOps_avx512bf16, "avx512bf16");
}  // namespace hqq::kernels
