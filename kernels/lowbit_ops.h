#pragma once
// Fused products of activations with bit-plane weights (see lowbit_matrix.h), compiled once per
// instruction set and chosen at run time. Every variant works on one range of output rows: the
// caller threads over rows (core uses ATen's intra-op pool).
#include <cstdint>
#include <vector>

#include "kernels/lowbit_matrix.h"

namespace hqq::kernels {

constexpr int64_t kMaxGemvRows = 8;  // decode batch the fused product serves

struct LowbitOps {
  const char* isa;
  bool exact;
  // Whether this variant handles the layout and group size.
  bool (*supports)(const LowbitMatrix& w);
  // y[m * ldy + o] = Σ_i x[m][i] · (q[o][i] - zero[o][g]) · scale[o][g], for o in [o0, o1) and
  // any number of rows (served kMaxGemvRows at a time, each code read once per pass). x is
  // [rows][in_padded] fp32, zero past `in`; xsum[m * groups + g] is the sum of x[m] over group g
  // (the zero-point enters once per group, as a rank-1 term). `exact`: false when the variant
  // rounds x to int8 per block of 64 (VNNI), whose error bound is half a step of x per term.
  void (*gemv)(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
               int64_t ldy, int64_t o0, int64_t o1);
  // Rows [o0, o1) of the dequantized weight, fp32, into out[(o - o0) * ld + i].
  void (*dequantize)(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld);
  // The same rows rounded to bf16 (to nearest even, as ATen casts) straight from the registers,
  // for a bf16 GEMM; null where the variant has none (the caller converts dequantize()'s fp32).
  void (*dequantize_bf16)(const LowbitMatrix& w, int64_t o0, int64_t o1, uint16_t* out,
                          int64_t ld) = nullptr;
};

// The layout the fastest kernel on this CPU reads, for a layer of this shape.
LowbitLayout preferred_lowbit_layout(int nbits, int64_t in, int64_t group);

// The widest variant this CPU runs that supports `w` (scalar supports everything).
const LowbitOps& lowbit_ops(const LowbitMatrix& w);
const LowbitOps& lowbit_ops_scalar();
// Every compiled variant this CPU can run, scalar first (for tests and benchmarks).
std::vector<const LowbitOps*> lowbit_ops_variants();

}  // namespace hqq::kernels
