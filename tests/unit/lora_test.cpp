#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_header.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

TEST(Lora, GradientsMatchFiniteDifferences) {
  at::manual_seed(3);
  auto base = std::make_unique<DenseLinear>(at::randn({5, 7}, at::kDouble));
  LoraLinear l(std::move(base), 3, 6.0, 0.0, 1);
  l.lora_a() = at::randn({3, 7}, at::kDouble).set_requires_grad(true);
  l.lora_b() = at::randn({5, 3}, at::kDouble).set_requires_grad(true);
  at::Tensor x = at::randn({4, 7}, at::kDouble), r = at::randn({4, 5}, at::kDouble);
  auto loss = [&] { return (l.forward(x) * r).sum(); };
  loss().backward();
  for (at::Tensor* p : {&l.lora_a(), &l.lora_b()}) {
    at::Tensor analytic = p->grad().clone();
    at::Tensor numeric = at::zeros_like(analytic);
    at::NoGradGuard no_grad;
    for (int64_t i = 0; i < p->numel(); ++i) {
      double* v = p->data_ptr<double>() + i;
      const double keep = *v, eps = 1e-6;
      *v = keep + eps;
      double up = loss().item<double>();
      *v = keep - eps;
      double down = loss().item<double>();
      *v = keep;
      numeric.data_ptr<double>()[i] = (up - down) / (2 * eps);
    }
    EXPECT_LT((analytic - numeric).abs().max().item<double>(), 1e-6);
  }
}

TEST(Lora, FrozenBaseGetsNoGradientAndQuantizedBackwardRecomputes) {
  at::manual_seed(4);
  at::Tensor w = at::randn({32, 64}) * 0.05;
  QuantConfig c;
  c.nbits = 2;
  c.group_size = 16;
  auto q = std::make_unique<HqqLinear>(quantize(w, c), at::Tensor(), at::kFloat);
  at::Tensor w_hat = q->dequantized();
  LoraLinear l(std::move(q), 4, 4.0, 0.0, 2);
  at::Tensor x = at::randn({3, 64}).set_requires_grad(true);
  at::Tensor y = l.forward(x);
  y.sum().backward();
  // The quantized product goes through the custom function that dequantizes again in backward.
  at::Tensor base_y = l.base().forward(x);
  ASSERT_TRUE(base_y.grad_fn());
  EXPECT_NE(base_y.grad_fn()->name().find("FrozenMatmul<hqq::HqqLinear>"), std::string::npos)
      << base_y.grad_fn()->name();
  // dL/dx = 1·(Ŵ + scaling·B A) summed over outputs; B starts at zero, so only Ŵ contributes.
  at::Tensor expected = at::ones({3, 32}).matmul(w_hat);
  EXPECT_TRUE(at::allclose(x.grad(), expected, 1e-5, 1e-5));
  EXPECT_TRUE(l.lora_a().grad().defined() || l.lora_b().grad().defined());
  auto* hq = dynamic_cast<const HqqLinear*>(&l.base());
  ASSERT_NE(hq, nullptr);
  EXPECT_FALSE(hq->packed().requires_grad());
  EXPECT_FALSE(hq->scale().requires_grad());
}

fs::path fixture() {
  return test::fixtures() / "models" / "llama_chat_tok1000";
}

TEST(Lora, SavesExactlyThePeftKeysAndShapes) {
  test::TempDir tmp;
  LoadedModel m = load_model(fixture(), {.dtype = "float32"});
  LoraConfig cfg;
  cfg.r = 8;
  cfg.rank_pattern["self_attn"] = 4;
  cfg.target_modules = {"q_proj", "v_proj", "down_proj"};
  EXPECT_EQ(apply_lora(m.model, cfg), 6);  // 2 layers x 3 targets
  save_adapter(m.model, cfg, tmp.path());
  auto h = read_safetensors_header((tmp / "adapter_model.safetensors").string());
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& t : h.tensors) got[t.name] = t.shape;
  std::map<std::string, std::vector<int64_t>> want;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "base_model.model.model.layers." + std::to_string(l) + ".";
    want[p + "self_attn.q_proj.lora_A.weight"] = {4, 64};
    want[p + "self_attn.q_proj.lora_B.weight"] = {64, 4};
    want[p + "self_attn.v_proj.lora_A.weight"] = {4, 64};
    want[p + "self_attn.v_proj.lora_B.weight"] = {32, 4};
    want[p + "mlp.down_proj.lora_A.weight"] = {8, 160};
    want[p + "mlp.down_proj.lora_B.weight"] = {64, 8};
  }
  EXPECT_EQ(got, want);
  auto j = nlohmann::json::parse(test::read_file(tmp / "adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 8);
  EXPECT_EQ(j["lora_alpha"], 16.0);
  EXPECT_EQ(j["target_modules"], nlohmann::json({"q_proj", "v_proj", "down_proj"}));
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
}

TEST(Lora, LoadingAnAdapterGivesIdenticalLogits) {
  test::TempDir tmp;
  LoadedModel a = load_model(fixture(), {.dtype = "float32"});
  LoraConfig cfg;
  cfg.r = 4;
  apply_lora(a.model, cfg, 7);
  for (auto& [name, l] : lora_layers(a.model))
    l->lora_b() = (at::randn(l->lora_b().sizes()) * 0.1).set_requires_grad(true);
  save_adapter(a.model, cfg, tmp.path());
  LoadedModel b = load_model(fixture(), {.dtype = "float32"});
  LoadedModel plain = load_model(fixture(), {.dtype = "float32"});
  load_adapter(b.model, tmp.path());
  at::Tensor t = at::arange(20, at::kLong).unsqueeze(0);
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(a.model.forward(t), b.model.forward(t)));
  EXPECT_FALSE(
      at::allclose(plain.model.forward(t), b.model.forward(t)));  // the adapter does something
}

TEST(Lora, MismatchedAdapterIsNamed) {
  test::TempDir tmp;
  LoadedModel a = load_model(fixture(), {.dtype = "float32"});
  LoraConfig cfg;
  cfg.r = 4;
  apply_lora(a.model, cfg);
  save_adapter(a.model, cfg, tmp.path());
  auto j = nlohmann::json::parse(test::read_file(tmp / "adapter_config.json"));
  j["r"] = 8;  // the weights say 4
  test::write_file(tmp / "adapter_config.json", j.dump());
  LoadedModel b = load_model(fixture(), {.dtype = "float32"});
  try {
    load_adapter(b.model, tmp.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_model.safetensors"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load_adapter(b.model, tmp / "nowhere"), InputError);
}

}  // namespace
}  // namespace hqq

namespace hqq {
namespace {

TEST(Lora, MergedExportMatchesAdapterOnTheQuantizedModel) {
  test::TempDir tmp;
  test::quantize_to(fixture(), tmp / "q", "4bit-g64");
  LoadedModel a = load_model(tmp / "q", {.dtype = "float32"});
  LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 8;
  apply_lora(a.model, cfg, 3);
  for (auto& [name, l] : lora_layers(a.model))
    l->lora_b() = (at::randn(l->lora_b().sizes()) * 0.05).set_requires_grad(true);
  save_adapter(a.model, cfg, tmp / "adapter");
  export_dequantized({.source = tmp / "q", .output = tmp / "merged", .adapter = tmp / "adapter"});
  LoadedModel merged = load_model(tmp / "merged", {.dtype = "float32"});
  at::Tensor t = at::arange(24, at::kLong).unsqueeze(0);
  at::NoGradGuard no_grad;
  at::Tensor want = a.model.forward(t), got = merged.model.forward(t);
  EXPECT_LT(((want - got).norm() / want.norm()).item<double>(), 2e-2);  // bf16 export
  EXPECT_THROW(
      export_dequantized({.source = tmp / "q", .output = tmp / "m2", .adapter = tmp / "nope"}),
      InputError);
}

}  // namespace
}  // namespace hqq
