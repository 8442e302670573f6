#include "core/model/linear.h"

#include "core/base/error.h"

namespace hqq {

DenseLinear::DenseLinear(at::Tensor weight, at::Tensor bias)
    : weight_(std::move(weight)), bias_(std::move(bias)) {
  if (weight_.dim() != 2) throw Error("DenseLinear: weight must be 2-D");
  if (bias_.defined() && (bias_.dim() != 1 || bias_.size(0) != weight_.size(0)))
    throw Error("DenseLinear: bias must have out_features elements");
}

at::Tensor DenseLinear::forward(const at::Tensor& x) const {
  return at::linear(x, weight_, bias_);
}

int64_t DenseLinear::storage_bytes() const {
  int64_t n = weight_.numel() * weight_.element_size();
  if (bias_.defined()) n += bias_.numel() * bias_.element_size();
  return n;
}

std::vector<std::pair<std::string, at::Tensor*>> DenseLinear::parameters() {
  std::vector<std::pair<std::string, at::Tensor*>> p = {{"weight", &weight_}};
  if (bias_.defined()) p.push_back({"bias", &bias_});
  return p;
}

}  // namespace hqq
