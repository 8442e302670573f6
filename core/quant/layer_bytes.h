#pragma once
// The bytes one HQQ layer takes as stored, the single prediction the planner, plan_size and the
// model card all use (and that quantize_model_test checks against what quantization writes).
#include <cstdint>

namespace hqq {

// Packed codes plus fp16 scale and zero per group. Codes are packed along the first dimension of
// the grouped layout ([numel/g, g] on axis 1, [g, numel/g] on axis 0); 3-bit packs ten codes per
// int32 and pads that dimension to a multiple of ten.
double hqq_layer_bytes(int nbits, int64_t numel, int64_t group_size, int axis);

}  // namespace hqq
