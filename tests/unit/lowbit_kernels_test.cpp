// The fused low-bit kernels of every compiled variant against dequantize-then-matmul in fp64,
// on odd shapes, every bit width, group size and layout, and batches of 1 to 11 rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "kernels/decode_ops.h"
#include "kernels/lowbit_matrix.h"
#include "kernels/lowbit_ops.h"

namespace hqq::kernels {
namespace {

uint16_t float_to_half(float f) {  // round to nearest even, normal range only (test values)
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t sign = (b >> 16) & 0x8000;
  const int32_t exp = static_cast<int32_t>((b >> 23) & 0xff) - 127 + 15;
  uint32_t mant = b & 0x7fffff;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(h);
}

const LowbitLayout kLayouts[] = {LowbitLayout::BitPlanes16, LowbitLayout::Blocks64,
                                 LowbitLayout::Blocks64x16};

// Blocks64x16 holds 2-, 4- and 8-bit codes only.
bool layout_holds(LowbitLayout layout, int nbits) {
  return layout != LowbitLayout::Blocks64x16 || nbits == 2 || nbits == 4 || nbits == 8;
}

struct Layer {
  int64_t out, in, group;
  int nbits;
  std::vector<uint8_t> codes;  // [out][in]
  std::vector<uint16_t> scale, zero;
  std::vector<uint8_t> storage;
  LowbitMatrix view;

  Layer(int64_t o, int64_t i, int64_t g, int nb, std::mt19937& rng,
        LowbitLayout layout = LowbitLayout::BitPlanes16)
      : out(o), in(i), group(g), nbits(nb) {
    std::uniform_int_distribution<int> code(0, (1 << nb) - 1);
    std::uniform_real_distribution<float> sd(0.001f, 0.05f), zd(0.0f, float((1 << nb) - 1));
    for (int64_t k = 0; k < o * i; ++k) codes.push_back(static_cast<uint8_t>(code(rng)));
    for (int64_t k = 0; k < o * (i / g); ++k) {
      scale.push_back(float_to_half(sd(rng)));
      zero.push_back(float_to_half(zd(rng)));
    }
    storage.resize(static_cast<size_t>(lowbit_row_bytes(nb, i, layout) * o));
    lowbit_pack_rows(codes.data(), i, nb, layout, 0, o, storage.data());
    view.out = o;
    view.in = i;
    view.in_padded = round_up(i, block_of(layout));
    view.group = g;
    view.nbits = nb;
    view.layout = layout;
    view.codes = storage.data();
    view.scale = scale.data();
    view.zero = zero.data();
  }
  double weight(int64_t o, int64_t i) const {
    const int64_t g = o * (in / group) + i / group;
    return (codes[o * in + i] - double(half_to_float(zero[g]))) * half_to_float(scale[g]);
  }
  double code_part(int64_t o, int64_t i) const {  // |s·q|, what int8 activations perturb
    const int64_t g = o * (in / group) + i / group;
    return codes[o * in + i] * double(half_to_float(scale[g]));
  }
};

// Error budget per bit width, relative to Σ|x||w| of the output (fp32 accumulation of terms
// whose magnitude grows with the code range).
const std::map<int, double> kBudget = {{1, 2e-6}, {2, 2e-6}, {3, 4e-6}, {4, 4e-6}, {8, 1e-5}};

TEST(LowbitKernels, PackAndUnpackRoundTrip) {
  std::mt19937 rng(1);
  for (LowbitLayout layout : kLayouts)
    for (int nb : {1, 2, 3, 4, 8})
      for (int64_t in : {16, 40, 8, 2048, 200, 1088, 1600}) {
        if (!layout_holds(layout, nb)) continue;
        Layer l(3, in, 8, nb, rng, layout);
        std::vector<uint8_t> back(l.codes.size());
        lowbit_unpack_rows(l.view, 0, 3, back.data());
        EXPECT_EQ(back, l.codes) << nb << " bits, in " << in;
      }
}

void check_case(const LowbitOps& ops, const Layer& l, int64_t rows, std::mt19937& rng) {
  const int64_t out = l.out, in = l.in, group = l.group, pad = l.view.in_padded;
  std::normal_distribution<float> xd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * pad), 0.0f);
  const int64_t groups = in / group;
  std::vector<float> xsum(static_cast<size_t>(rows * groups), 0.0f);
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t i = 0; i < in; ++i) {
      x[m * pad + i] = xd(rng);
      xsum[m * groups + i / group] += x[m * pad + i];
    }
  const int64_t ldy = out + 3;
  std::vector<float> y(static_cast<size_t>(rows * ldy), -1.0f);
  const int64_t mid = out / 2;  // two row ranges, as two threads would split them
  ops.gemv(l.view, x.data(), xsum.data(), rows, y.data(), ldy, 0, mid);
  ops.gemv(l.view, x.data(), xsum.data(), rows, y.data(), ldy, mid, out);
  for (int64_t m = 0; m < rows; ++m) {
    const float* xm = &x[static_cast<size_t>(m * pad)];
    for (int64_t o = 0; o < out; ++o) {
      double ref = 0, mag = 0, int8_bound = 0;
      for (int64_t i = 0; i < in; ++i) {
        ref += l.weight(o, i) * xm[i];
        mag += std::abs(l.weight(o, i) * xm[i]);
      }
      if (!ops.exact) {
        // Activations rounded to int8 per block of 64: each x moves by at most half a step
        // (absmax / 127 / 2), on the code part s·q of its weight.
        for (int64_t b = 0; b * 64 < in; ++b) {
          const int64_t end = std::min<int64_t>(in, b * 64 + 64);
          double amax = 0;
          for (int64_t i = b * 64; i < end; ++i) amax = std::max(amax, double(std::abs(xm[i])));
          for (int64_t i = b * 64; i < end; ++i) int8_bound += amax / 127 / 2 * l.code_part(o, i);
        }
      }
      ASSERT_NEAR(y[m * ldy + o], ref, kBudget.at(l.nbits) * mag + 1.001 * int8_bound + 1e-6)
          << ops.isa << " " << l.nbits << "-bit " << out << "x" << in << " g" << group << " rows "
          << rows << " m " << m << " o " << o;
    }
  }
  // The dequantize kernel (prefill path) gives the same weights.
  std::vector<float> w(static_cast<size_t>(out * (in + 5)));
  ops.dequantize(l.view, 0, out, w.data(), in + 5);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      ASSERT_NEAR(w[o * (in + 5) + i], l.weight(o, i), 1e-6 * (1 + std::abs(l.weight(o, i))))
          << ops.isa << " " << l.nbits << "-bit dequantize o " << o << " i " << i;
  // Rows in bf16 (prefill tiles for a bf16 GEMM): exactly the fp32 rows rounded to nearest even,
  // and nothing written past `in` (the guard words between rows stay as they were).
  if (ops.dequantize_bf16) {
    const int64_t ld = in + 5;
    std::vector<uint16_t> h(static_cast<size_t>(out * ld), 0xdead);
    ops.dequantize_bf16(l.view, 0, out, h.data(), ld);
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i)
        ASSERT_EQ(h[o * ld + i], float_to_bf16(w[o * ld + i]))
            << ops.isa << " " << l.nbits << "-bit dequantize_bf16 o " << o << " i " << i;
      for (int64_t i = in; i < ld; ++i) ASSERT_EQ(h[o * ld + i], 0xdead) << ops.isa;
    }
  }
}

TEST(LowbitKernels, EveryVariantMatchesDequantizeThenMatmul) {
  std::mt19937 rng(7);
  struct Case {
    int64_t out, in, group;
  };
  const Case cases[] = {{1, 16, 16},
                        {7, 64, 32},
                        {33, 128, 64},
                        {5, 256, 128},
                        {3, 48, 8},
                        {9, 40, 8},
                        {4, 96, 24},
                        {6, 2048, 64},
                        {5, 192, 16},
                        {3, 136, 8},
                        {2, 4096, 4096} /* per channel */,
                        // odd block counts, a group of three blocks, groups of 4 inputs
                        {4, 320, 64},
                        {3, 448, 64},
                        {5, 384, 192},
                        {6, 256, 4},
                        // whole and partial runs of 16 blocks (Blocks64x16)
                        {3, 2112, 32},
                        {4, 1600, 16},
                        {3, 3072, 128},
                        {2, 1536, 192}};
  std::map<std::string, int> checked;
  for (const LowbitOps* ops : lowbit_ops_variants())
    for (LowbitLayout layout : kLayouts)
      for (int nb : {1, 2, 3, 4, 8})
        for (const Case& c : cases) {
          if (!layout_holds(layout, nb)) continue;
          Layer l(c.out, c.in, c.group, nb, rng, layout);
          if (!ops->supports(l.view)) continue;
          for (int64_t rows : {1, 3, 8, 11}) check_case(*ops, l, rows, rng);
          ++checked[ops->isa];
        }
  for (const LowbitOps* ops : lowbit_ops_variants()) {
    std::printf("[ variant  ] %s: %d layer cases\n", ops->isa, checked[ops->isa]);
    EXPECT_GE(checked[ops->isa], 24) << ops->isa;  // every variant this CPU runs was exercised
  }
}

TEST(LowbitKernels, DispatchPicksTheWidestVariantThatSupportsTheLayout) {
  std::mt19937 rng(3);
  Layer odd(2, 96, 24, 2, rng);
  EXPECT_STREQ(lowbit_ops(odd.view).isa, "scalar");  // groups that straddle SIMD blocks
  // The preferred layout of a common shape is read by the fastest variant this CPU has.
  Layer common(2, 4096, 64, 2, rng, preferred_lowbit_layout(2, 4096, 64));
  EXPECT_STREQ(lowbit_ops(common.view).isa, lowbit_ops_variants().back()->isa);
}

}  // namespace
}  // namespace hqq::kernels
