// Two-level HQQ formats: packing, exact storage cost, the solver against rounding today's meta,
// products against dequantize-then-matmul, and the save/load round trip through a checkpoint.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/load/model_loader.h"
#include "core/model/model_info.h"
#include "core/quant/incoherence.h"
#include "core/quant/model_card.h"
#include "core/quant/plan_size.h"
#include "core/quant/quant_preset.h"
#include "core/quant/twolevel_linear.h"
#include "core/quant/twolevel_solver.h"
#include "kernels/decode_ops.h"
#include "kernels/lowbit_matrix.h"
#include "kernels/lowbit_ops.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

std::vector<TwoLevelParams> preset_params() {
  std::vector<TwoLevelParams> v;
  for (const auto& p : twolevel_presets())
    v.push_back({p.bits, p.group_size, p.scale_bits, p.zero_bits, p.super_group});
  v.push_back({3, 32, 6, 6, 256});  // odd bit widths: the meta bit stream crosses bytes
  v.push_back({4, 8, 3, 5, 64});
  v.push_back({2, 64, 5, 4, 128});
  return v;
}

// Weights like a trained layer's: mostly Gaussian, a few large ones, rows of different scales.
at::Tensor weights(int64_t out, int64_t in, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor w = at::randn({out, in}) * 0.02;
  w = w * (0.5 + at::rand({out, 1}));
  at::Tensor spikes = (at::rand({out, in}) < 0.01).to(at::kFloat) * at::randn({out, in}) * 0.1;
  return w + spikes;
}

TEST(TwoLevel, PackingRoundTripsEveryLayout) {
  for (const TwoLevelParams& p : preset_params()) {
    at::manual_seed(p.nbits * 100 + p.group);
    TwoLevelTensor t;
    t.params = p;
    t.out = 5;
    t.in = 2 * p.super_group;
    t.codes = at::randint(0, 1 << p.nbits, {t.out, t.in}, at::kByte);
    t.scale_q = at::randint(0, 1 << p.scale_bits, {t.out, t.in / p.group}, at::kByte);
    t.zero_q = at::randint(0, 1 << p.zero_bits, {t.out, t.in / p.group}, at::kByte);
    t.super = at::rand({t.out, t.in / p.super_group, 2}).to(at::kHalf);
    const TwoLevelPacked packed = pack_twolevel(t);
    EXPECT_EQ(packed.codes.numel() + packed.meta.numel() + packed.super.numel() * 2,
              twolevel_layer_bytes(p, t.out, t.in));
    const TwoLevelTensor back = unpack_twolevel(packed);
    EXPECT_TRUE(at::equal(back.codes, t.codes)) << p.nbits;
    EXPECT_TRUE(at::equal(back.scale_q, t.scale_q)) << p.scale_bits;
    EXPECT_TRUE(at::equal(back.zero_q, t.zero_q)) << p.zero_bits;
    // Dequantization follows the formula ŵ = d·sq · (q − e·zq).
    at::Tensor sup = t.super.to(at::kFloat);
    const int64_t per = p.super_group / p.group;
    at::Tensor s = sup.select(2, 0).repeat_interleave(per, 1) * t.scale_q.to(at::kFloat);
    at::Tensor z = sup.select(2, 1).repeat_interleave(per, 1) * t.zero_q.to(at::kFloat);
    at::Tensor ref = (t.codes.to(at::kFloat) - z.repeat_interleave(p.group, 1)) *
                     s.repeat_interleave(p.group, 1);
    EXPECT_TRUE(at::allclose(dequantize_twolevel(packed), ref, 1e-6, 1e-7));
  }
}

TEST(TwoLevel, PresetsCostExactlyTheirBitsPerWeight) {
  std::map<std::string, double> expected = {
      {"2bit-tl-g64", 2.25}, {"2bit-tl-g16", 2.625}, {"3bit-tl-g64", 3.25}, {"3bit-tl-g32", 3.375}};
  for (const auto& p : twolevel_presets()) {
    const TwoLevelParams tp{p.bits, p.group_size, p.scale_bits, p.zero_bits, p.super_group};
    const double bpw = twolevel_bits_per_weight(tp);
    EXPECT_DOUBLE_EQ(8.0 * static_cast<double>(twolevel_layer_bytes(tp, 256, 768)) / (256 * 768),
                     bpw);
    if (expected.count(p.name)) {
      EXPECT_DOUBLE_EQ(bpw, expected[p.name]) << p.name;
    }
  }
}

TEST(TwoLevel, SolverNeverDoesWorseThanRoundingTodaysMeta) {
  for (const TwoLevelParams& p : preset_params()) {
    at::Tensor w = weights(48, 512, static_cast<uint64_t>(p.nbits * 7 + p.group));
    at::Tensor imp = twolevel_importance(w, p, TwoLevelWeighting::Magnitude);
    const double ours =
        weighted_sq_error(w, dequantize_twolevel(quantize_twolevel(w, p, "w")), imp);
    const double rounded = weighted_sq_error(w, dequantize_twolevel(round_meta_of_hqq(w, p)), imp);
    EXPECT_LE(ours, rounded) << p.nbits << "-bit g" << p.group;
    // And it is a real gain, not a tie: the joint choice beats plain rounding clearly.
    EXPECT_LT(ours, 0.95 * rounded) << p.nbits << "-bit g" << p.group;
    // Uniform weighting: the same guarantee for the plain squared error.
    TwoLevelSolverOptions o;
    o.weighting = TwoLevelWeighting::Uniform;
    at::Tensor one = at::ones_like(w);
    EXPECT_LE(weighted_sq_error(w, dequantize_twolevel(quantize_twolevel(w, p, "w", o)), one),
              weighted_sq_error(w, dequantize_twolevel(round_meta_of_hqq(w, p)), one));
  }
}

TEST(TwoLevel, SolverRefusesShapesAndValuesThatDoNotFit) {
  const TwoLevelParams p{2, 16, 4, 4, 256};
  EXPECT_THROW(quantize_twolevel(at::randn({8, 160}), p, "w"), InputError);
  EXPECT_THROW(quantize_twolevel(at::randn({8}), p, "w"), InputError);
  at::Tensor nan = at::randn({4, 256});
  nan[0][3] = NAN;
  EXPECT_THROW(quantize_twolevel(nan, p, "w"), InputError);
  try {
    quantize_twolevel(at::randn({8, 160}), p, "model.layers.0.mlp.down_proj.weight");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.down_proj.weight"), std::string::npos);
  }
}

TEST(TwoLevel, InterleavedCodesRoundTripAndDecodeAlike) {
  // 1280 inputs: one whole run of 16 blocks and a short one of 4.
  for (const TwoLevelParams& p : preset_params()) {
    const TwoLevelPacked stored = pack_twolevel(quantize_twolevel(weights(24, 1280, 7), p, "w"));
    const TwoLevelPacked mixed = with_interleaved_codes(stored, true);
    if (!mixed.interleaved) {  // no kernel for it here: nothing changes
      EXPECT_TRUE(mixed.codes.is_same(stored.codes));
      continue;
    }
    EXPECT_FALSE(at::equal(mixed.codes, stored.codes)) << p.nbits << "-bit g" << p.group;
    EXPECT_TRUE(at::equal(with_interleaved_codes(mixed, false).codes, stored.codes));
    EXPECT_TRUE(at::equal(unpack_twolevel(mixed).codes, unpack_twolevel(stored).codes));
    EXPECT_TRUE(at::equal(dequantize_twolevel(mixed), dequantize_twolevel(stored)));
    // Every code where the interleaved order puts it (lowbit_matrix.h, blocks64x16_slot).
    const at::Tensor codes = unpack_twolevel(stored).codes;
    const auto want = codes.accessor<uint8_t, 2>();
    const auto have = mixed.codes.accessor<uint8_t, 2>();
    const int64_t blocks = 1280 / 64;
    int64_t misplaced = 0;
    for (int64_t o = 0; o < 24; ++o)
      for (int64_t i = 0; i < 1280; ++i) {
        const kernels::CodeSlot s = kernels::blocks64x16_slot(p.nbits, blocks, i / 64, i % 64);
        misplaced += ((have[o][s.byte] >> s.shift) & ((1 << p.nbits) - 1)) != want[o][i];
      }
    EXPECT_EQ(misplaced, 0) << p.nbits << "-bit g" << p.group;
    // More rows than one pass of the kernel takes (kMaxGemvRows): every row is x_q · ŵ.
    const kernels::TwoLevelView v = view_of(mixed);
    const int64_t rows = kernels::kMaxGemvRows + 3;
    at::Tensor x = at::randn({rows, 1280});
    const kernels::TwoLevelX xp = kernels::twolevel_prepare_x(v, x.data_ptr<float>(), rows);
    at::Tensor y = at::empty({rows, 24});
    kernels::twolevel_gemv(v, xp, y.data_ptr<float>(), 24, 0, 24);
    at::Tensor xq = at::empty({rows, 1280});
    for (int64_t i = 0; i < rows * 1280; ++i)
      xq.data_ptr<float>()[i] = static_cast<float>(xp.q[static_cast<size_t>(i)]) *
                                xp.step[static_cast<size_t>(i / p.super_group)];
    const at::Tensor ref = at::matmul(xq, dequantize_twolevel(stored).t());
    EXPECT_LT(((y - ref).norm() / ref.norm()).item<double>(), 2e-6)
        << p.nbits << "-bit g" << p.group;
  }
}

TEST(TwoLevel, ProductMatchesDequantizeThenMatmul) {
  for (const TwoLevelParams& p : preset_params()) {
    // Whole and short runs of 16 blocks for the interleaved kernel.
    const int64_t out = 72, in = p.nbits <= 2 ? 1280 : 2 * std::max<int64_t>(p.super_group, 256);
    at::Tensor w = weights(out, in, 11);
    at::Tensor bias = at::randn({out}) * 0.1;
    TwoLevelLinear layer(pack_twolevel(quantize_twolevel(w, p, "w")), bias, at::kFloat);
    at::Tensor w_hat = layer.dequantized();
    EXPECT_LT(relative_error(w, w_hat), p.nbits == 1 ? 0.75 : p.nbits == 2 ? 0.45 : 0.25);
    for (int64_t rows : {1, 3, 8, 9, 300}) {
      at::Tensor x = at::randn({rows, in});
      at::Tensor ref = at::matmul(x, w_hat.t()) + bias;
      at::Tensor y = layer.forward(x);
      const double rel = ((y - ref).norm() / ref.norm()).item<double>();
      // Decode on VNNI rounds x to int8 per super-group (about 0.6 %); fp32 otherwise.
      const bool int8 = rows <= 8 && std::string(kernels::twolevel_gemv_isa()) != "scalar";
      EXPECT_LT(rel, int8 ? 1e-2 : 1e-5) << p.nbits << "-bit g" << p.group << " rows " << rows;
      if (int8) {
        // The VNNI product is exactly x_q · ŵ (x_q: x rounded to int8 with one step per
        // super-group), up to fp32 rounding of the sums: what it loses is x's rounding alone.
        const kernels::TwoLevelView v = layer.view();
        at::Tensor xc = x.contiguous();
        const kernels::TwoLevelX xp = kernels::twolevel_prepare_x(v, xc.data_ptr<float>(), rows);
        at::Tensor xq = at::empty({rows, in});
        for (int64_t i = 0; i < rows * in; ++i)
          xq.data_ptr<float>()[i] = static_cast<float>(xp.q[static_cast<size_t>(i)]) *
                                    xp.step[static_cast<size_t>(i / p.super_group)];
        at::Tensor ref_q = at::matmul(xq, w_hat.t()) + bias;
        EXPECT_LT(((y - ref_q).norm() / ref_q.norm()).item<double>(), 2e-6)
            << p.nbits << "-bit g" << p.group << " rows " << rows;
      }
      if (rows <= 8) {  // the portable kernel is exact up to fp32 rounding
        const kernels::TwoLevelView v = layer.view();
        at::Tensor xc = x.contiguous();
        kernels::TwoLevelX xp;
        xp.rows = rows;
        xp.in = in;
        xp.x = xc.data_ptr<float>();
        xp.xsum = std::vector<float>(static_cast<size_t>(rows * v.groups()));
        at::Tensor xs = xc.view({rows, v.groups(), v.group}).sum(-1).contiguous();
        std::copy_n(xs.data_ptr<float>(), xs.numel(), xp.xsum.data());
        at::Tensor ys = at::empty({rows, out});
        kernels::twolevel_gemv_scalar(v, xp, ys.data_ptr<float>(), out, 0, out);
        EXPECT_LT(((ys + bias - ref).norm() / ref.norm()).item<double>(), 1e-5);
      }
    }
  }
}

TEST(TwoLevel, Bf16RowsAreTheFp32RowsRoundedToNearestEven) {
  for (const TwoLevelParams& p : preset_params()) {
    const int64_t out = 40, in = 2 * std::max<int64_t>(p.super_group, 256), ld = in + 8;
    TwoLevelLinear layer(pack_twolevel(quantize_twolevel(weights(out, in, 5), p, "w")),
                         at::Tensor(), at::kFloat);
    const kernels::TwoLevelView v = layer.view();
    std::vector<float> f(static_cast<size_t>(out * in));
    kernels::twolevel_dequantize(v, 0, out, f.data(), in);
    std::vector<uint16_t> h(static_cast<size_t>(out * ld), 0xABCD);
    kernels::twolevel_dequantize_bf16(v, 3, out, h.data() + 3 * ld, ld);  // rows 3.. only
    int64_t wrong = 0, touched = 0;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < ld; ++i) {
        const uint16_t got = h[static_cast<size_t>(o * ld + i)];
        if (o < 3 || i >= in)
          touched += got != 0xABCD;
        else
          wrong += got != kernels::float_to_bf16(f[static_cast<size_t>(o * in + i)]);
      }
    EXPECT_EQ(wrong, 0) << p.nbits << "-bit g" << p.group << " sb " << p.scale_bits;
    EXPECT_EQ(touched, 0) << "wrote outside its rows";
  }
}

TEST(TwoLevel, Bf16ComputeAndGradients) {
  const TwoLevelParams p{2, 16, 4, 4, 256};
  at::Tensor w = weights(64, 256, 3);
  TwoLevelLinear layer(pack_twolevel(quantize_twolevel(w, p, "w")), at::Tensor(), at::kBFloat16);
  at::Tensor x = at::randn({2, 5, 256});
  at::Tensor ref = at::matmul(x, layer.dequantized().t());
  at::Tensor y = layer.forward(x.to(at::kBFloat16)).to(at::kFloat);
  EXPECT_EQ(y.sizes(), ref.sizes());
  EXPECT_LT(((y - ref).norm() / ref.norm()).item<double>(), 2e-2);
  at::Tensor xg = at::randn({3, 256}).requires_grad_(true);
  layer.forward(xg).sum().backward();
  at::Tensor expect = at::ones({3, 64}).matmul(layer.dequantized());
  EXPECT_TRUE(at::allclose(xg.grad(), expect, 1e-4, 1e-5));
}

TEST(TwoLevel, QuantizedModelRoundTripsBitExactlyThroughSaveAndLoad) {
  test::TempDir tmp;
  const fs::path demo = HQQ_TEST_DEMO_MODEL_DIR;
  const QuantizeSummary s = test::quantize_to(demo, tmp / "q", "2bit-tl-mix");
  ASSERT_EQ(s.layers.size(), 28u);
  // The size the plan predicts is the size written.
  const PlanSize predicted = plan_size(inspect_model(demo), plan_from_preset("2bit-tl-mix"));
  EXPECT_DOUBLE_EQ(predicted.bits_per_weight, s.bits_per_weight);
  EXPECT_EQ(predicted.invalid_layers, 0);
  // The model card lists the two-level presets for this model (every input a multiple of 256).
  const ModelInfo card = describe_model(demo);
  int listed = 0;
  for (const auto& e : card.estimates) listed += e.preset.find("-tl-") != std::string::npos;
  EXPECT_EQ(listed, static_cast<int>(twolevel_presets().size()));
  const auto cfg = nlohmann::json::parse(test::read_file(tmp / "q" / "config.json"));
  EXPECT_EQ(cfg["quantization_config"]["hqq_studio"]["formats"][1], "twolevel-v1");
  EXPECT_EQ(cfg["quantization_config"]["hqq_studio"]["plan"]["scale_bits"], 4);

  Checkpoint src = Checkpoint::open(demo), out = Checkpoint::open(tmp / "q");
  for (const char* m : {"model.layers.1.self_attn.q_proj", "model.layers.2.mlp.down_proj"}) {
    ASSERT_TRUE(is_twolevel_layer(out, m)) << m;
    const auto cfg_m = plan_from_preset("2bit-tl-mix").config_for(m);
    ASSERT_TRUE(cfg_m.has_value());
    at::Tensor w = src.tensor(std::string(m) + ".weight");
    const TwoLevelPacked fresh = pack_twolevel(quantize_twolevel(w, twolevel_params(*cfg_m), m));
    auto loaded = load_twolevel_linear(out, m, w.size(0), w.size(1), false, at::kFloat);
    EXPECT_EQ(loaded->packed().params, fresh.params);
    EXPECT_TRUE(at::equal(with_interleaved_codes(loaded->packed(), false).codes, fresh.codes)) << m;
    EXPECT_TRUE(at::equal(loaded->packed().meta, fresh.meta)) << m;
    EXPECT_TRUE(at::equal(loaded->packed().super, fresh.super)) << m;
    EXPECT_EQ(loaded->packed().params.nbits, std::string(m).ends_with("down_proj") ? 3 : 2);
  }
  // The whole model loads and runs on the two-level layers.
  LoadedModel lm = load_model(tmp / "q");
  int two_level = 0;
  for (auto& slot : lm.model.linear_slots()) two_level += (*slot.slot)->kind() == "hqq-twolevel";
  EXPECT_EQ(two_level, 28);
  // Exported weights are the dequantized ones.
  export_dequantized({.source = tmp / "q", .output = tmp / "deq"});
  Checkpoint deq = Checkpoint::open(tmp / "deq");
  auto layer = load_twolevel_linear(out, "model.layers.0.mlp.up_proj", 768, 256, false, at::kFloat);
  EXPECT_TRUE(at::equal(deq.tensor("model.layers.0.mlp.up_proj.weight"),
                        layer->dequantized().to(at::kBFloat16)));
}

TEST(TwoLevel, LoaderRejectsInconsistentLayers) {
  test::TempDir tmp;
  const fs::path demo = HQQ_TEST_DEMO_MODEL_DIR;
  test::quantize_to(demo, tmp / "q", "2bit-tl-g64");
  Checkpoint out = Checkpoint::open(tmp / "q");
  // config.json implies another shape: a clear error naming the layer, no crash.
  try {
    load_twolevel_linear(out, "model.layers.0.mlp.up_proj", 768, 512, false, at::kFloat);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj"), std::string::npos);
  }
}

TEST(TwoLevel, PlanJsonCarriesTheMetaBits) {
  QuantPlan p = QuantPlan::from_json(nlohmann::json::parse(R"({
    "nbits": 2, "group_size": 16, "scale_bits": 4, "zero_bits": 4, "super_group": 256,
    "overrides": [{"match": "mlp.down_proj", "nbits": 3, "group_size": 32, "zero_bits": 6}]})"),
                                     "plan.json");
  auto c = p.config_for("model.layers.0.mlp.down_proj");
  ASSERT_TRUE(c && c->two_level());
  EXPECT_EQ(c->nbits, 3);
  EXPECT_EQ(c->zero_bits, 6);
  EXPECT_EQ(c->scale_bits, 4);
  QuantPlan again = QuantPlan::from_json(p.to_json(), "again");
  EXPECT_EQ(again.config_for("model.layers.0.mlp.down_proj")->zero_bits, 6);
  EXPECT_EQ(again.defaults.super_group, 256);
  EXPECT_THROW(
      QuantPlan::from_json(
          nlohmann::json::parse(R"({"nbits": 2, "group_size": 16, "scale_bits": 9})"), "p"),
      InputError);
  EXPECT_THROW(
      QuantPlan::from_json(
          nlohmann::json::parse(R"({"nbits": 8, "group_size": 16, "scale_bits": 4})"), "p"),
      InputError);
}

TEST(Incoherence, RotationAndInverseReproduceTheDenseProduct) {
  for (int64_t in : {64, 96, 160, 256, 768, 4096, 11008, 77}) {
    at::manual_seed(in);
    at::Tensor w = at::randn({16, in}), x = at::randn({3, in});
    const Rotation r = rotation_for(in, 42);
    EXPECT_EQ(r.enabled(), in % 2 == 0) << in;
    if (r.enabled()) {
      EXPECT_EQ(in % r.block, 0);
      EXPECT_EQ(r.block & (r.block - 1), 0);  // a power of two
      EXPECT_EQ(r.block, std::min<int64_t>(in & -in, 4096));
    }
    at::Tensor rw = rotate(w, r, in), rx = rotate(x, r, in);
    at::Tensor ref = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
    at::Tensor got = at::matmul(rx, rw.t()).to(at::kDouble);
    EXPECT_LT(((got - ref).norm() / ref.norm()).item<double>(), 1e-5) << in;
    EXPECT_LT(((unrotate(rw, r, in) - w).norm() / w.norm()).item<double>(), 1e-5) << in;
    if (r.enabled()) {  // a real rotation: spreads the weights, keeps the norm
      EXPECT_GT(((rw - w).norm() / w.norm()).item<double>(), 0.5) << in;
      EXPECT_NEAR(rw.norm().item<double>(), w.norm().item<double>(),
                  1e-4 * w.norm().item<double>());
    }
  }
}

TEST(Incoherence, RotatedLayerMultipliesInTheOriginalBasis) {
  const TwoLevelParams p{2, 16, 4, 4, 256};
  at::Tensor w = weights(40, 768, 5);
  const Rotation r = rotation_for(768, 7);
  TwoLevelLinear layer(pack_twolevel(quantize_twolevel(rotate(w, r, 768), p, "w")), at::Tensor(),
                       at::kFloat, r);
  at::Tensor w_hat = layer.dequantized();
  EXPECT_LT(relative_error(w, w_hat), 0.4);  // the original basis, not the rotated one
  for (int64_t rows : {1, 20}) {
    at::Tensor x = at::randn({rows, 768});
    at::Tensor ref = at::matmul(x, w_hat.t());
    const double rel = ((layer.forward(x) - ref).norm() / ref.norm()).item<double>();
    EXPECT_LT(rel, rows == 1 ? 1e-2 : 1e-5) << rows;
  }
}

}  // namespace
}  // namespace hqq
