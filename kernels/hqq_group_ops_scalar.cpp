// The HQQ group loops compiled for scalar (flags in kernels/CMakeLists.txt).
#define HQQ_ISA_NS scalar
#include "kernels/hqq_group_ops_impl.h"

namespace hqq::kernels {
extern const GroupOps kGroupOps_scalar = {
    "scalar",         scalar::range,    scalar::reference_step,
    scalar::sq_error, scalar::ls_stats, scalar::encode};
}  // namespace hqq::kernels
