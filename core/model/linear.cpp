#include "core/model/linear.h"

#include "core/base/error.h"
#include "core/model/cpu_matmul.h"
#include "kernels/decode_ops.h"

namespace hqq {

DenseLinear::DenseLinear(at::Tensor weight, at::Tensor bias)
    : weight_(std::move(weight)), bias_(std::move(bias)) {
  if (weight_.dim() != 2) throw Error("DenseLinear: weight must be 2-D");
  if (bias_.defined() && (bias_.dim() != 1 || bias_.size(0) != weight_.size(0)))
    throw Error("DenseLinear: bias must have out_features elements");
}

at::Tensor DenseLinear::forward(const at::Tensor& x) const {
  return compute_linear(x, weight_, bias_);
}

void add_bias_rows(const at::Tensor& bias, float* y, int64_t o0, int64_t o1) {
  if (!bias.defined()) return;
  if (bias.scalar_type() == at::kFloat) {
    const float* b = bias.data_ptr<float>();
    for (int64_t o = o0; o < o1; ++o) y[o] += b[o];
  } else if (bias.scalar_type() == at::kBFloat16) {
    const at::BFloat16* b = bias.data_ptr<at::BFloat16>();
    for (int64_t o = o0; o < o1; ++o) y[o] += static_cast<float>(b[o]);
  } else {
    const at::Half* b = bias.data_ptr<at::Half>();
    for (int64_t o = o0; o < o1; ++o) y[o] += static_cast<float>(b[o]);
  }
}

bool DenseLinear::has_row_product() const {
  const auto t = weight_.scalar_type();
  return weight_.device().is_cpu() && weight_.stride(1) == 1 &&
         (t == at::kFloat || t == at::kBFloat16) &&
         (!bias_.defined() ||
          (bias_.is_contiguous() && bias_.device().is_cpu() &&
           (bias_.scalar_type() == at::kFloat || bias_.scalar_type() == at::kBFloat16 ||
            bias_.scalar_type() == at::kHalf)));
}

void DenseLinear::row_product(const float* x, float* y, int64_t o0, int64_t o1) const {
  const kernels::DecodeOps& ops = kernels::decode_ops();
  const int64_t in = weight_.size(1), ld = weight_.stride(0);
  if (weight_.scalar_type() == at::kBFloat16)
    ops.gemv_bf16(reinterpret_cast<const uint16_t*>(weight_.data_ptr<at::BFloat16>()), ld, in, x, y,
                  o0, o1);
  else
    ops.gemv_f32(weight_.data_ptr<float>(), ld, in, x, y, o0, o1);
  add_bias_rows(bias_, y, o0, o1);
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
