#pragma once
// y = x Ŵᵀ for a frozen quantized layer (HqqLinear, TwoLevelLinear), with Ŵ dequantized in
// forward and again in backward: the autograd graph keeps only a pointer to the layer, never the
// dequantized weight, so a training step holds at most one layer's dequantized weight at a time.
// The frozen codes get no gradient. Layer needs forward_product(x) and dequantized(dtype).
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>

#include "core/model/cpu_matmul.h"

namespace hqq {

template <typename Layer>
struct FrozenMatmul : public torch::autograd::Function<FrozenMatmul<Layer>> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const Layer* layer) {
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    return layer->forward_product(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto* layer = reinterpret_cast<const Layer*>(ctx->saved_data["layer"].toInt());
    at::Tensor g = grad[0];
    return {compute_matmul(g, layer->dequantized(g.scalar_type())), at::Tensor()};
  }
};

}  // namespace hqq
