// The HQQ group loops compiled for avx512 (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS avx512
#include "kernels/hqq_group_ops_impl.h"

namespace hqq::kernels {
extern const GroupOps kGroupOps_avx512 = {
    "avx512",         avx512::range,    avx512::reference_step,
    avx512::sq_error, avx512::ls_stats, avx512::encode};
}  // namespace hqq::kernels
