// The fused low-bit kernels of every compiled variant against dequantize-then-matmul in fp64,
// on odd shapes, every bit width and group size, and decode batches of 1 to 11 rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <vector>

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

struct Layer {
  int64_t out, in, group;
  int nbits;
  std::vector<uint8_t> codes;  // [out][in]
  std::vector<uint16_t> scale, zero;
  std::vector<uint8_t> storage;
  LowbitMatrix view;

  Layer(int64_t o, int64_t i, int64_t g, int nb, std::mt19937& rng)
      : out(o), in(i), group(g), nbits(nb) {
    std::uniform_int_distribution<int> code(0, (1 << nb) - 1);
    std::uniform_real_distribution<float> sd(0.001f, 0.05f), zd(0.0f, float((1 << nb) - 1));
    for (int64_t k = 0; k < o * i; ++k) codes.push_back(static_cast<uint8_t>(code(rng)));
    for (int64_t k = 0; k < o * (i / g); ++k) {
      scale.push_back(float_to_half(sd(rng)));
      zero.push_back(float_to_half(zd(rng)));
    }
    storage.resize(lowbit_row_bytes(nb, i) * static_cast<size_t>(o));
    lowbit_pack_rows(codes.data(), i, nb, 0, o, storage.data());
    view = {o,
            i,
            round_up_16(i),
            g,
            nb,
            nb == 8 ? nullptr : reinterpret_cast<uint16_t*>(storage.data()),
            nb == 8 ? storage.data() : nullptr,
            scale.data(),
            zero.data()};
  }
  double weight(int64_t o, int64_t i) const {
    const int64_t g = o * (in / group) + i / group;
    return (codes[o * in + i] - double(half_to_float(zero[g]))) * half_to_float(scale[g]);
  }
};

// Error budget per bit width, relative to Σ|x||w| of the output (fp32 accumulation of terms
// whose magnitude grows with the code range).
const std::map<int, double> kBudget = {{1, 2e-6}, {2, 2e-6}, {3, 4e-6}, {4, 4e-6}, {8, 1e-5}};

TEST(LowbitKernels, PackAndUnpackRoundTrip) {
  std::mt19937 rng(1);
  for (int nb : {1, 2, 3, 4, 8})
    for (int64_t in : {16, 40, 8, 2048}) {
      Layer l(3, in, 8, nb, rng);
      std::vector<uint8_t> back(l.codes.size());
      lowbit_unpack_rows(l.view, 0, 3, back.data());
      EXPECT_EQ(back, l.codes) << nb << " bits, in " << in;
    }
}

TEST(LowbitKernels, EveryVariantMatchesDequantizeThenMatmul) {
  std::mt19937 rng(7);
  struct Case {
    int64_t out, in, group;
  };
  const Case cases[] = {{1, 16, 16}, {7, 64, 32}, {33, 128, 64}, {5, 256, 128},  {3, 48, 8},
                        {9, 40, 8},  {4, 96, 24}, {6, 2048, 64}, {2, 4096, 4096} /* per channel */};
  int checked = 0;
  for (const LowbitOps* ops : lowbit_ops_variants()) {
    for (int nb : {1, 2, 3, 4, 8}) {
      for (const Case& c : cases) {
        Layer l(c.out, c.in, c.group, nb, rng);
        if (!ops->supports(l.view)) continue;
        for (int64_t rows : {1, 3, 8, 11}) {
          std::normal_distribution<float> xd(0.0f, 1.0f);
          std::vector<float> x(static_cast<size_t>(rows * l.view.in_padded), 0.0f);
          const int64_t groups = c.in / c.group;
          std::vector<float> xsum(static_cast<size_t>(rows * groups), 0.0f);
          for (int64_t m = 0; m < rows; ++m)
            for (int64_t i = 0; i < c.in; ++i) {
              x[m * l.view.in_padded + i] = xd(rng);
              xsum[m * groups + i / c.group] += x[m * l.view.in_padded + i];
            }
          const int64_t ldy = c.out + 3;
          std::vector<float> y(static_cast<size_t>(rows * ldy), -1.0f);
          // Two row ranges, as threads would split them.
          const int64_t mid = c.out / 2;
          ops->gemv(l.view, x.data(), xsum.data(), rows, y.data(), ldy, 0, mid);
          ops->gemv(l.view, x.data(), xsum.data(), rows, y.data(), ldy, mid, c.out);
          for (int64_t m = 0; m < rows; ++m)
            for (int64_t o = 0; o < c.out; ++o) {
              double ref = 0, mag = 0;
              for (int64_t i = 0; i < c.in; ++i) {
                const double w = l.weight(o, i), xv = x[m * l.view.in_padded + i];
                ref += w * xv;
                mag += std::abs(w * xv);
              }
              ASSERT_NEAR(y[m * ldy + o], ref, kBudget.at(nb) * mag + 1e-7)
                  << ops->isa << " " << nb << "-bit " << c.out << "x" << c.in << " g" << c.group
                  << " rows " << rows << " m " << m << " o " << o;
            }
          ++checked;
        }
        // The dequantize kernel (prefill path) gives the same weights.
        std::vector<float> w(static_cast<size_t>(c.out * (c.in + 5)));
        ops->dequantize(l.view, 0, c.out, w.data(), c.in + 5);
        for (int64_t o = 0; o < c.out; ++o)
          for (int64_t i = 0; i < c.in; ++i)
            ASSERT_NEAR(w[o * (c.in + 5) + i], l.weight(o, i),
                        1e-6 * (1 + std::abs(l.weight(o, i))))
                << ops->isa << " " << nb << "-bit dequantize o " << o << " i " << i;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(LowbitKernels, DispatchPicksTheWidestVariantThatSupportsTheLayout) {
  std::mt19937 rng(3);
  Layer odd(2, 96, 24, 2, rng), even(2, 128, 64, 2, rng);
  EXPECT_STREQ(lowbit_ops(odd.view).isa, "scalar");  // groups that straddle SIMD blocks
  EXPECT_STREQ(lowbit_ops(even.view).isa, lowbit_ops_variants().back()->isa);
}

}  // namespace
}  // namespace hqq::kernels
