#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/base/error.h"
#include "core/quant/hqq_packing.h"
#include "core/quant/hqq_quantizer.h"

namespace hqq {
namespace {

// The reference layout written out literally: packed[i, c] = sum_b C[i + b R/k, c] << nbits
// (k-1-b), 3-bit padded to a multiple of 10 rows with fields at shift 27 - 3b.
at::Tensor naive_pack(const at::Tensor& codes, int nbits) {
  const int64_t R = codes.size(0), C = codes.size(1);
  auto c = codes.accessor<uint8_t, 2>();
  if (nbits == 3) {
    const int64_t P = (R + 9) / 10;
    at::Tensor out = at::zeros({P, C}, at::kInt);
    auto o = out.accessor<int32_t, 2>();
    for (int64_t i = 0; i < P; ++i)
      for (int64_t j = 0; j < C; ++j)
        for (int b = 0; b < 10; ++b)
          if (i + b * P < R) o[i][j] |= int32_t(c[i + b * P][j]) << (27 - 3 * b);
    return out;
  }
  const int k = 8 / nbits;
  const int64_t P = R / k;
  at::Tensor out = at::zeros({P, C}, at::kByte);
  auto o = out.accessor<uint8_t, 2>();
  for (int64_t i = 0; i < P; ++i)
    for (int64_t j = 0; j < C; ++j)
      for (int b = 0; b < k; ++b) o[i][j] |= uint8_t(c[i + b * P][j] << (nbits * (k - 1 - b)));
  return out;
}

TEST(HqqPacking, MatchesTheReferenceLayoutAndRoundTrips) {
  for (int nbits : {1, 2, 3, 4, 8}) {
    for (int64_t rows : {8, 24, 40, 64}) {
      if (nbits == 3 && rows == 8) rows = 13;  // 3-bit pads any row count
      at::Tensor codes = at::randint(0, 1 << nbits, {rows, 6}, at::kByte);
      at::Tensor packed = pack_codes(codes, nbits);
      EXPECT_TRUE(at::equal(packed, naive_pack(codes, nbits)))
          << nbits << "-bit, " << rows << " rows";
      EXPECT_EQ(packed.sizes().vec(), packed_shape(nbits, rows, 6));
      EXPECT_TRUE(at::equal(unpack_codes(packed, nbits, rows), codes)) << nbits << "-bit";
    }
  }
  EXPECT_EQ(packing_name(3), "3bit_32");
  EXPECT_EQ(packing_name(2), "2bit_u8");
  EXPECT_THROW(pack_codes(at::zeros({6, 2}, at::kByte), 1),
               Error);  // 6 rows cannot pack 8 per byte
}

at::Tensor gaussian(int64_t n, int64_t k, double std = 0.02) {
  return at::randn({n, k}) * std;
}

// Heavy-tailed weights like trained LLM layers: Gaussian with a few large outliers per row.
at::Tensor heavy_tailed(int64_t n, int64_t k) {
  at::Tensor w = at::randn({n, k}) * 0.02;
  at::Tensor mask = at::rand({n, k}) < 0.005;
  return at::where(mask, w * 8, w);
}

TEST(HqqQuantizer, FusedAndAtenReferenceEnginesAgree) {
  at::manual_seed(1);
  for (int axis : {0, 1}) {
    for (int nbits : {1, 2, 4}) {
      at::Tensor w = gaussian(256, 512);
      QuantConfig c;
      c.nbits = nbits;
      c.axis = axis;
      c.optimizer = HqqOptimizer::Reference;
      c.meta_dtype = at::kFloat;
      QuantizedTensor fused = quantize(w, c);
      c.engine = HqqEngine::Aten;
      QuantizedTensor aten = quantize(w, c);
      double ef = relative_error(w, dequantize(fused)), ea = relative_error(w, dequantize(aten));
      EXPECT_NEAR(ef, ea, 1e-4 * ea) << "axis " << axis << " bits " << nbits;
      double same = fused.codes.eq(aten.codes).to(at::kDouble).mean().item<double>();
      EXPECT_GT(same, 0.999) << "axis " << axis << " bits " << nbits;
      EXPECT_EQ(fused.codes.sizes(), aten.codes.sizes());
    }
  }
}

TEST(HqqQuantizer, ReferenceBeatsRtnAndImprovedBeatsReference) {
  at::manual_seed(2);
  for (auto make : {&heavy_tailed, +[](int64_t n, int64_t k) { return gaussian(n, k); }}) {
    at::Tensor w = make(512, 1024);
    for (int nbits : {1, 2, 3, 4, 8}) {
      for (int64_t group : {16, 64, 128}) {
        QuantConfig c;
        c.nbits = nbits;
        c.group_size = group;
        c.round_zero = nbits == 4;
        c.optimizer = HqqOptimizer::Off;
        double rtn = relative_error(w, dequantize(quantize(w, c)));
        c.optimizer = HqqOptimizer::Reference;
        double ref = relative_error(w, dequantize(quantize(w, c)));
        c.optimizer = HqqOptimizer::Improved;
        double imp = relative_error(w, dequantize(quantize(w, c)));
        EXPECT_LE(ref, rtn * 1.0001) << nbits << "-bit g" << group;
        EXPECT_LT(imp, ref) << nbits << "-bit g" << group;
      }
    }
  }
}

TEST(HqqQuantizer, Axis0GroupsAreStridedRows) {
  // With N % g == 0, axis-0 group j holds column j % K of rows j / K + t N/g (reference §1.3).
  const int64_t N = 8, K = 3, g = 4, M = N * K / g;
  at::Tensor w = at::arange(N * K, at::kFloat).reshape({N, K});
  QuantConfig c;
  c.nbits = 8;
  c.group_size = g;
  c.axis = 0;
  c.optimizer = HqqOptimizer::Off;
  QuantizedTensor q = quantize(w, c);
  ASSERT_EQ(q.codes.sizes(), (std::vector<int64_t>{g, M}));
  ASSERT_EQ(q.scale.sizes(), (std::vector<int64_t>{1, M}));
  // Group 0 = flat elements 0, M, 2M, 3M: its minimum maps to code 0 and maximum to 255.
  auto codes = q.codes.accessor<uint8_t, 2>();
  EXPECT_EQ(codes[0][0], 0);
  EXPECT_EQ(codes[g - 1][0], 255);
  EXPECT_LT(relative_error(w, dequantize(q)), 1e-3);
}

TEST(HqqQuantizer, PerChannelAndEightBitPrecision) {
  at::Tensor w = gaussian(64, 96);
  QuantConfig c;
  c.nbits = 8;
  c.group_size = 0;  // one group per output row
  QuantizedTensor q = quantize(w, c);
  EXPECT_EQ(q.group_size, 96);
  EXPECT_EQ(q.scale.sizes(), (std::vector<int64_t>{64, 1}));
  EXPECT_LT(relative_error(w, dequantize(q)), 0.01);
  c.axis = 0;
  EXPECT_EQ(quantize(w, c).group_size, 64);
}

TEST(HqqQuantizer, InvalidInputsNameTheTensor) {
  QuantConfig c;
  auto expect_error = [&](const at::Tensor& w, const std::string& what) {
    try {
      quantize(w, c, "model.layers.0.mlp.up_proj.weight");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
  };
  expect_error(at::zeros({10, 10}), "does not divide");
  at::Tensor nan = at::zeros({64, 64});
  nan[3][5] = std::numeric_limits<float>::quiet_NaN();
  expect_error(nan, "NaN");
  expect_error(at::zeros({64}), "2-D");
  c.nbits = 5;
  expect_error(at::zeros({64, 64}), "nbits 5");
  c.nbits = 1;
  c.group_size = 64;
  expect_error(at::zeros({2, 64}), "divisible by 8");  // 2 groups cannot fill a byte of 1-bit codes
}

}  // namespace
}  // namespace hqq

#include "kernels/hqq_group_ops.h"

namespace hqq {
namespace {

// The run-time chosen instruction set computes what the scalar build computes (to float
// rounding in the reassociated reductions; codes exactly).
TEST(HqqGroupOps, DispatchedVariantAgreesWithScalar) {
  const auto& fast = kernels::group_ops();
  const auto& ref = kernels::group_ops_scalar();
  at::manual_seed(11);
  for (int64_t g : {8, 16, 64, 100}) {
    at::Tensor w = at::randn({g}) * 0.05;
    const float* p = w.data_ptr<float>();
    float mn1, mx1, mn2, mx2;
    fast.range(p, g, &mn1, &mx1);
    ref.range(p, g, &mn2, &mx2);
    EXPECT_EQ(mn1, mn2);
    EXPECT_EQ(mx1, mx2);
    const float s = 15.0f / (mx1 - mn1), z = -mn1 * s;
    std::vector<uint8_t> c1(g), c2(g);
    fast.encode(p, g, s, z, 15.0f, c1.data());
    ref.encode(p, g, s, z, 15.0f, c2.data());
    EXPECT_EQ(c1, c2) << fast.isa;
    EXPECT_NEAR(fast.sq_error(p, g, 1 / s, z, 15.0f), ref.sq_error(p, g, 1 / s, z, 15.0f), 1e-6);
    float z1 = z, z2 = z;
    EXPECT_NEAR(fast.reference_step(p, g, s, &z1, 15.0f, 10.0f, 0.7f),
                ref.reference_step(p, g, s, &z2, 15.0f, 10.0f, 0.7f), 1e-5);
    EXPECT_NEAR(z1, z2, 1e-4);
  }
}

}  // namespace
}  // namespace hqq

namespace hqq {
namespace {

// A stop lands inside one large layer, not only between layers: the solver checks the job
// between row slices. 4096 x 16384 takes ~0.6 s on 2 cores (more under sanitizers); the token
// is cancelled 30 ms in, so a solver that checked only on entry would finish and not throw.
TEST(HqqQuantizer, StopLandsInsideOneLargeLayer) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({4096, 16384});
  QuantConfig c;
  c.nbits = 2;
  c.group_size = 64;
  CancelToken token;
  JobContext job;
  job.cancel = &token;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    token.cancel();
  });
  EXPECT_THROW(quantize(w, c, "big", job), Cancelled);
  canceller.join();
  // Cancelled before the call: nothing is solved at all, whatever the optimizer.
  for (HqqOptimizer opt : {HqqOptimizer::Improved, HqqOptimizer::Off, HqqOptimizer::Reference}) {
    c.optimizer = opt;
    EXPECT_THROW(quantize(w.narrow(0, 0, 64), c, "small", job), Cancelled) << optimizer_name(opt);
  }
}

// Slicing the rows for the stop checks changes no result: one call equals per-slice calls.
TEST(HqqQuantizer, SlicedSolveEqualsPerRowSolve) {
  at::manual_seed(4);
  const at::Tensor w = at::randn({1024, 8192});  // 128 k groups of 64: two slices of 64 k
  QuantConfig c;
  c.nbits = 3;
  c.group_size = 64;
  const QuantizedTensor all = quantize(w, c);
  const QuantizedTensor top = quantize(w.narrow(0, 0, 512), c);
  EXPECT_TRUE(at::equal(all.codes.narrow(0, 0, top.codes.size(0)), top.codes));
  EXPECT_TRUE(at::equal(all.scale.narrow(0, 0, top.scale.size(0)), top.scale));
}

}  // namespace
}  // namespace hqq
