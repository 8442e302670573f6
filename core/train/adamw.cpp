#include "core/train/adamw.h"

#include <cmath>

#include "core/base/error.h"

namespace hqq {

AdamW::AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions o)
    : params_(std::move(params)), decay_(std::move(decay)), o_(o) {
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
  }
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (decay_[i] && o_.weight_decay > 0) p.mul_(1 - lr * o_.weight_decay);
    m_[i].mul_(o_.beta1).add_(g, 1 - o_.beta1);
    v_[i].mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
    at::Tensor denom = (v_[i] / bc2).sqrt_().add_(o_.eps);
    p.addcdiv_(m_[i], denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s.push_back({"m." + std::to_string(i), m_[i]});
    s.push_back({"v." + std::to_string(i), v_[i]});
  }
  return s;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& s, int64_t steps) {
  if (s.size() != 2 * params_.size())
    throw InputError("optimizer state does not match the trainable parameters");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (s[2 * i].second.sizes() != params_[i].sizes())
      throw InputError("optimizer state shape mismatch");
    m_[i].copy_(s[2 * i].second);
    v_[i].copy_(s[2 * i + 1].second);
  }
  t_ = steps;
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params)
    if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

}  // namespace hqq
