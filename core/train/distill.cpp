#include "core/train/distill.h"

#include "core/base/error.h"

namespace hqq {

at::Tensor distill_kl(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                      const at::Tensor& mask, int64_t topk) {
  if (student_logits.sizes() != teacher_logits.sizes())
    throw InputError("distillation: the teacher's logits [" +
                     std::to_string(teacher_logits.size(-1)) +
                     " tokens] do not match the student's [" +
                     std::to_string(student_logits.size(-1)) + "]: not the same vocabulary");
  at::Tensor s = at::log_softmax(student_logits.to(at::kFloat), -1);
  at::Tensor t = at::log_softmax(teacher_logits.detach().to(at::kFloat), -1);
  at::Tensor kl;  // [B, T]
  if (topk <= 0 || topk >= t.size(-1)) {
    kl = (t.exp() * (t - s)).sum(-1);
  } else {
    auto [tv, ti] = t.topk(topk, -1);
    at::Tensor tp = tv.exp();
    at::Tensor st = s.gather(-1, ti);
    // The rest bucket: 1 − Σ top-k probabilities, kept away from 0 so that its log is finite.
    at::Tensor t_rest = (1 - tp.sum(-1)).clamp_min(1e-12);
    at::Tensor s_rest = (1 - st.exp().sum(-1)).clamp_min(1e-12);
    kl = (tp * (tv - st)).sum(-1) + t_rest * (t_rest.log() - s_rest.log());
  }
  at::Tensor m = mask.to(at::kFloat);
  return (kl * m).sum() / m.sum().clamp_min(1);
}

}  // namespace hqq
