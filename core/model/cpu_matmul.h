#pragma once
// Matrix products of bf16 activations where libtorch has no fast bf16 GEMM. libtorch 1.13 runs a
// CPU bf16 GEMM on oneDNN's bf16 instructions where the CPU has them (AVX-512 BF16); elsewhere
// (AVX2-only CPUs: AMD Zen 2/3, most laptops before 2022) it falls back to a scalar loop,
// measured ~85x slower than fp32 here (the bf16 prefill of a 486 M-parameter model ran at 1.7
// tokens/s). There the bf16 operands are widened to fp32 (exactly), multiplied by the fp32 BLAS
// and the product rounded to bf16 once: what oneDNN's bf16 GEMM computes as well (fp32
// accumulation), up to the order of the sums.
#include <ATen/ATen.h>

namespace hqq {

// Whether bf16 GEMMs run natively: the CPU has AVX-512 BF16. HQQ_BF16_GEMM=native or =fp32
// forces either path (tests and comparisons); read on every call, so a test can switch it.
bool bf16_gemm_is_fast();

// at::matmul(a, b), through fp32 when a is a CPU bf16 tensor and bf16 GEMMs are slow (the result
// is bf16 either way). Differentiable.
at::Tensor compute_matmul(const at::Tensor& a, const at::Tensor& b);

// at::linear(x, w, bias) with the same rule. Without gradients it widens the weight in tiles of
// rows, so no fp32 copy of a whole weight is made.
at::Tensor compute_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias);

}  // namespace hqq
