#pragma once
// Incoherence processing (QuIP/QuIP#): a seeded randomized Hadamard rotation R of a layer's
// input dimension spreads every weight's magnitude over its block, so the rotated weight has no
// outliers and quantizes with less error at 2-3 bits. With R = D·H/√n per block of n inputs
// (D: random ±1 from the seed, H: Walsh-Hadamard), y = x Wᵀ = (x R)(W R)ᵀ: the layer stores
// W R quantized and rotates its activations before the product with a fast Walsh-Hadamard
// transform (n log n per row). Inputs that are not a power of two are rotated in blocks of the
// largest power of two dividing them (768 → 3 blocks of 256; 11008 → 43 of 256).
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace hqq {

struct Rotation {
  uint64_t seed = 0;
  int64_t block = 0;  // 0: no rotation
  bool enabled() const { return block > 0; }
};

// The rotation used for `in` inputs with `seed`: blocks of the largest power of two dividing
// `in`, at most 4096 (at least 2; `in` odd gets no rotation).
Rotation rotation_for(int64_t in, uint64_t seed);

// The seed a quantized module's rotation uses (FNV-1a of its name, e.g.
// "model.layers.0.mlp.down_proj"): a different, reproducible rotation per layer, the same in the
// quantizer and the budget planner.
uint64_t rotation_seed(const std::string& module);

// x R over the last dimension (fp32 result): activations before the product, weights before
// quantizing (row i of W R is w_i R).
at::Tensor rotate(const at::Tensor& x, const Rotation& r, int64_t in);
// y Rᵀ over the last dimension: brings a rotated weight back to the original basis.
at::Tensor unrotate(const at::Tensor& y, const Rotation& r, int64_t in);

}  // namespace hqq
