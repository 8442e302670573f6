#include "core/model/cpu_matmul.h"

#include <cstdlib>
#include <cstring>

#include "kernels/cpu_features.h"

namespace hqq {

namespace {

bool widen(const at::Tensor& a) {
  return a.scalar_type() == at::kBFloat16 && a.device().is_cpu() && !bf16_gemm_is_fast();
}

}  // namespace

bool bf16_gemm_is_fast() {
  if (const char* env = std::getenv("HQQ_BF16_GEMM")) {
    if (std::strcmp(env, "native") == 0) return true;
    if (std::strcmp(env, "fp32") == 0) return false;
  }
  static const bool native = kernels::detect_cpu_features().avx512bf16;
  return native;
}

at::Tensor compute_matmul(const at::Tensor& a, const at::Tensor& b) {
  if (!widen(a)) return at::matmul(a, b);
  return at::matmul(a.to(at::kFloat), b.to(at::kFloat)).to(at::kBFloat16);
}

at::Tensor compute_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  if (!widen(x)) return at::linear(x, w, bias);
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor bf = bias.defined() ? bias.to(at::kFloat) : bias;
  if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad()))
    return at::linear(xf, w.to(at::kFloat), bf).to(at::kBFloat16);
  // Tiles of 256 output rows (2 MB of fp32 for 2048 inputs): widened while in cache.
  const int64_t out = w.size(0), rows = xf.numel() / w.size(1), tile = 256;
  const at::Tensor x2 = xf.reshape({rows, w.size(1)});
  at::Tensor y = at::empty({rows, out}, xf.options());
  for (int64_t t0 = 0; t0 < out; t0 += tile) {
    const int64_t n = std::min(tile, out - t0);
    y.narrow(1, t0, n).copy_(at::mm(x2, w.narrow(0, t0, n).to(at::kFloat).t()));
  }
  if (bf.defined()) y.add_(bf);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  return y.to(at::kBFloat16).view(shape);
}

}  // namespace hqq
