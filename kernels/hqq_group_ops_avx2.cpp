// The HQQ group loops compiled for avx2 (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS avx2
#include "kernels/hqq_group_ops_impl.h"

namespace hqq::kernels {
extern const GroupOps kGroupOps_avx2 = {"avx2",         avx2::range,    avx2::reference_step,
                                        avx2::sq_error, avx2::ls_stats, avx2::encode};
}  // namespace hqq::kernels
