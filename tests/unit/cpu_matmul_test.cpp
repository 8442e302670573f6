// bf16 products through fp32 where libtorch's bf16 GEMM is slow (cpu_matmul.h): the same
// values as the native bf16 GEMM up to summation order, on every path that multiplies.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/model/cpu_matmul.h"
#include "core/model/linear.h"
#include "core/quant/hqq_linear.h"
#include "kernels/cpu_features.h"

namespace hqq {
namespace {

struct Gemm {
  explicit Gemm(const char* mode) { ::setenv("HQQ_BF16_GEMM", mode, 1); }
  ~Gemm() { ::unsetenv("HQQ_BF16_GEMM"); }
};

// Largest difference in units of the reference's bf16 step (2^-7 of its magnitude).
double bf16_ulps(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor w = want.to(at::kFloat), g = got.to(at::kFloat);
  return ((g - w).abs() / (w.abs() * (1.0 / 128) + 1e-3)).max().item<double>();
}

TEST(CpuMatmul, TheFp32PathIsWhereBf16GemmsAreSlow) {
  EXPECT_EQ(bf16_gemm_is_fast(), kernels::detect_cpu_features().avx512bf16);
  {
    Gemm g("fp32");
    EXPECT_FALSE(bf16_gemm_is_fast());
  }
  Gemm g("native");
  EXPECT_TRUE(bf16_gemm_is_fast());
}

TEST(CpuMatmul, DenseQuantizedAndAttentionProductsAgreeWithTheNativeBf16Gemm) {
  at::manual_seed(5);
  const at::Tensor x = at::randn({2, 37, 192}).to(at::kBFloat16);
  const at::Tensor w = (at::randn({300, 192}) * 0.05).to(at::kBFloat16);
  const at::Tensor b = at::randn({300}).to(at::kBFloat16);
  DenseLinear dense(w, b);
  QuantConfig c;
  c.nbits = 4;
  c.group_size = 64;
  HqqLinear q(quantize(w.to(at::kFloat), c), at::Tensor(), at::kBFloat16);
  at::NoGradGuard no_grad;
  at::Tensor d_native, d_fp32, q_native, q_fp32, m_native, m_fp32;
  const at::Tensor keys = at::randn({2, 192, 41}).to(at::kBFloat16);
  {
    Gemm g("native");
    d_native = dense.forward(x);
    q_native = q.forward(x);
    m_native = compute_matmul(x, keys);
  }
  {
    Gemm g("fp32");
    d_fp32 = dense.forward(x);
    q_fp32 = q.forward(x);
    m_fp32 = compute_matmul(x, keys);
  }
  for (const at::Tensor& t : {d_fp32, q_fp32, m_fp32}) EXPECT_EQ(t.scalar_type(), at::kBFloat16);
  EXPECT_EQ(d_fp32.sizes(), d_native.sizes());
  EXPECT_EQ(m_fp32.sizes(), m_native.sizes());
  // The fp32 path is the exact product rounded once (the quantized layer's on its fp32
  // dequantized weight; it adds no bias here).
  const at::Tensor xf = x.to(at::kFloat);
  EXPECT_LT(bf16_ulps(d_fp32, at::matmul(xf, w.to(at::kFloat).t()) + b.to(at::kFloat)), 1.01);
  EXPECT_LT(bf16_ulps(q_fp32, at::matmul(xf, q.dequantized(at::kFloat).t())), 1.01);
  EXPECT_LT(bf16_ulps(m_fp32, at::matmul(xf, keys.to(at::kFloat))), 1.01);
  // The native path computes the same function, less exactly where it is libtorch's fallback for
  // CPUs without bf16 instructions (it rounds partial sums to bf16: measured 1.6 % in norm on the
  // batched attention product of an AVX2 CPU).
  auto rel = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a.to(at::kFloat) - b.to(at::kFloat)).norm() / b.to(at::kFloat).norm()).item<double>();
  };
  EXPECT_LT(rel(d_native, d_fp32), 5e-2);
  EXPECT_LT(rel(q_native, q_fp32), 5e-2);
  EXPECT_LT(rel(m_native, m_fp32), 5e-2);
}

TEST(CpuMatmul, GradientsFlowThroughTheFp32Path) {
  Gemm g("fp32");
  at::manual_seed(6);
  const at::Tensor x = at::randn({4, 16}).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor w = at::randn({8, 16}).to(at::kBFloat16).set_requires_grad(true);
  compute_linear(x, w, at::Tensor()).to(at::kFloat).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  EXPECT_LT(bf16_ulps(x.grad(), w.to(at::kFloat).sum(0).expand({4, 16})), 1.01);
}

}  // namespace
}  // namespace hqq
