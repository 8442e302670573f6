// HqqLinear on the fused kernels computes what dequantize-then-matmul computes: decode rows,
// prefill rows, bf16 compute, gradients, and the layers that cannot use the kernels.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/quant/hqq_linear.h"
#include "core/quant/hqq_quantizer.h"

namespace hqq {
namespace {

struct Pair {
  std::unique_ptr<HqqLinear> fused, plain;
};

Pair make(int64_t out, int64_t in, int nbits, int64_t group, int axis = 1) {
  at::manual_seed(out * 131 + in + nbits);
  at::Tensor w = at::randn({out, in}) * 0.05;
  QuantConfig c;
  c.nbits = nbits;
  c.group_size = group;
  c.axis = axis;
  QuantizedTensor q = quantize(w, c, "w");
  at::Tensor bias = at::randn({out}).to(at::kHalf);
  return {std::make_unique<HqqLinear>(q, bias, at::kFloat, true),
          std::make_unique<HqqLinear>(q, bias, at::kFloat, false)};
}

TEST(HqqLinearKernels, FusedForwardEqualsDequantizeThenMatmul) {
  for (int nbits : {1, 2, 3, 4, 8})
    for (int64_t group : {8, 32, 64, 0})
      for (int64_t rows : {1, 4, 8, 9, 130}) {
        Pair p = make(96, 128, nbits, group);
        ASSERT_TRUE(p.fused->fused());
        ASSERT_FALSE(p.plain->fused());
        at::Tensor x = at::randn({rows, 128});
        at::Tensor a = p.fused->forward(x), b = p.plain->forward(x);
        if (rows <= kernels::kMaxGemvRows && !p.fused->kernel()->exact) {
          // int8 activations (VNNI): about half a percent of the output's norm.
          const double rel = ((a - b).norm() / b.norm()).item<double>();
          EXPECT_LT(rel, 1.5e-2) << nbits << "-bit g" << group << " rows " << rows;
        } else {
          EXPECT_TRUE(at::allclose(a, b, 1e-4, 1e-5))
              << nbits << "-bit g" << group << " rows " << rows << ": max diff "
              << (a - b).abs().max().item<float>();
        }
        // The codes and the on-disk packing survive the bit-plane layout.
        EXPECT_TRUE(at::equal(p.fused->packed(), p.plain->packed()));
        EXPECT_TRUE(at::equal(p.fused->dequantized(), p.plain->dequantized()));
      }
}

TEST(HqqLinearKernels, Bf16ComputeAndBatchedShapes) {
  Pair p = make(64, 96, 2, 32);
  at::Tensor x = at::randn({2, 3, 96}).to(at::kBFloat16);  // [batch, seq, in]
  at::Tensor a = p.fused->forward(x), b = p.plain->forward(x);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3, 64}));
  EXPECT_EQ(a.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::allclose(a.to(at::kFloat), b.to(at::kFloat), 2e-2, 2e-2));
}

// A bf16 prefill converts each dequantized tile to bf16 inside the kernels' threads: the same
// bits as dequantizing to fp32 and casting with ATen (round to nearest even), so the GEMM sees
// the same weights. One tile covers these 96 rows, so one mm is the reference. Where bf16 GEMMs
// are slow (cpu_matmul.h) the tiles stay fp32 and the product is rounded to bf16 once.
TEST(HqqLinearKernels, Bf16PrefillTilesAreTheCastOfTheDequantizedWeight) {
  struct Mode {
    explicit Mode(const char* m) { ::setenv("HQQ_BF16_GEMM", m, 1); }
    ~Mode() { ::unsetenv("HQQ_BF16_GEMM"); }
  };
  for (int nbits : {2, 4, 8}) {
    Pair p = make(96, 128, nbits, 64);
    ASSERT_TRUE(p.fused->fused());
    at::Tensor x = at::randn({130, 128}).to(at::kBFloat16);  // more rows than the GEMV serves
    const at::Tensor bias = p.fused->bias().to(at::kBFloat16);
    {
      Mode native("native");
      at::Tensor w = p.fused->dequantized(at::kFloat).to(at::kBFloat16);
      EXPECT_TRUE(at::equal(p.fused->forward(x), at::mm(x, w.t()) + bias)) << nbits << "-bit";
    }
    Mode fp32("fp32");
    at::Tensor wf = p.fused->dequantized(at::kFloat);
    at::Tensor want = at::mm(x.to(at::kFloat), wf.t()).to(at::kBFloat16) + bias;
    EXPECT_TRUE(at::equal(p.fused->forward(x), want)) << nbits << "-bit, fp32 GEMM";
  }
}

TEST(HqqLinearKernels, GradientsFlowThroughTheFusedProduct) {
  Pair p = make(48, 64, 4, 16);
  at::Tensor x1 = at::randn({10, 64}).set_requires_grad(true);
  at::Tensor x2 = x1.detach().clone().set_requires_grad(true);
  p.fused->forward(x1).pow(2).sum().backward();
  p.plain->forward(x2).pow(2).sum().backward();
  EXPECT_TRUE(at::allclose(x1.grad(), x2.grad(), 1e-4, 1e-5));
}

TEST(HqqLinearKernels, LayersTheKernelsCannotServeStayOnTheGeneralPath) {
  EXPECT_FALSE(make(64, 160, 4, 64).fused->fused());     // groups straddle rows
  EXPECT_FALSE(make(64, 128, 4, 64, 0).fused->fused());  // axis 0
  Pair odd = make(7, 40, 3, 8);                          // 40 inputs: a padded SIMD block
  ASSERT_TRUE(odd.fused->fused());
  at::Tensor x = at::randn({1, 40});
  const at::Tensor a = odd.fused->forward(x), b = odd.plain->forward(x);
  if (odd.fused->kernel()->exact)
    EXPECT_TRUE(at::allclose(a, b, 1e-4, 1e-5));
  else
    EXPECT_LT(((a - b).norm() / b.norm()).item<double>(), 1.5e-2);
}

}  // namespace
}  // namespace hqq
