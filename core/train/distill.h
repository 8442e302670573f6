#pragma once
// Distillation for HQQ+: the adapter learns to reproduce the full-precision model's next-token
// distribution (KL(teacher ‖ student)) instead of, or mixed with, the next token of the text.
#include <ATen/ATen.h>

#include <cstdint>

namespace hqq {

// Mean over the positions where `mask` [B, T] is true of KL(teacher ‖ student), from logits
// [B, T, V]. topk 0: over the full vocabulary. topk K: over the teacher's K most likely tokens
// plus one bucket for the rest of its mass (what a top-K cache of the teacher could hold).
// Differentiable in the student's logits; the teacher's are taken as constants.
at::Tensor distill_kl(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                      const at::Tensor& mask, int64_t topk = 0);

}  // namespace hqq
