// The decode loops compiled for scalar (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS decode_scalar
#include "kernels/decode_ops_impl.h"

namespace hqq::kernels {
HQQ_DECODE_TABLE(kDecodeOps_scalar, "scalar");
}  // namespace hqq::kernels
