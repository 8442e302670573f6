#pragma once
// AdamW with decoupled weight decay (Loshchilov & Hutter), on fp32 parameters, written with ATen
// ops so that it needs nothing from libtorch's heavy C++ frontend.
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace hqq {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

class AdamW {
 public:
  // `decay[i]` says whether parameter i gets weight decay (not norms and biases, by convention).
  AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions o);
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return t_; }
  // Moments by parameter index, for checkpoints.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& s, int64_t steps);

 private:
  std::vector<at::Tensor> params_, m_, v_;
  std::vector<bool> decay_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace hqq
