// Quantized embeddings and lm_head (quantize --embed-bits / --lm-head-bits): stored as HQQ
// layers, looked up one dequantized row per token, the head multiplied by the fused kernels; a
// tied model's one matrix quantized once and serving both.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/load/model_loader.h"
#include "core/model/decode_step.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

QuantPlan plan_with(const std::string& preset, int lm_head_bits, int embed_bits) {
  QuantPlan p = plan_from_preset(preset);
  p.lm_head_bits = lm_head_bits;
  p.embed_bits = embed_bits;
  return p;
}

const Linear* slot(LlamaModel& m, const std::string& name) {
  for (auto& s : m.linear_slots())
    if (s.name == name) return s.slot->get();
  return nullptr;
}

at::Tensor some_tokens(int64_t vocab) {
  return at::arange(0, 40, at::kLong).mul(37).remainder(vocab).unsqueeze(0);
}

// The demo model ties lm_head to its embeddings: --lm-head-bits 8 stores the one matrix once,
// quantized, as model.embed_tokens; the loader makes it the lm_head and looks rows up in it.
TEST(QuantizedEmbedding, ATiedMatrixIsQuantizedOnceAndServesLookupsAndTheHead) {
  TempDir tmp;
  const fs::path demo = HQQ_TEST_DEMO_MODEL_DIR;
  QuantizeSummary plain = test::quantize_to(demo, tmp / "q", "4bit-g64");
  QuantizeSummary s = test::quantize_to(demo, tmp / "qh", plan_with("4bit-g64", 8, 0));
  Checkpoint ck = Checkpoint::open(tmp / "qh");
  EXPECT_TRUE(ck.has("model.embed_tokens.W_q"));
  EXPECT_FALSE(ck.has("model.embed_tokens.weight"));
  EXPECT_FALSE(ck.has("lm_head.W_q"));
  // The embedding is 4096 x 256 fp32 in the source: 8 bits + fp16 meta per 128 is 1.06 MB
  // instead of 4.19 MB; the projections' bits per weight do not change.
  EXPECT_NEAR(static_cast<double>(plain.output_bytes - s.output_bytes),
              4096.0 * 256 * (4.0 - 1.0 - 4.0 / 128), 4096.0 * 256 * 0.01);
  EXPECT_DOUBLE_EQ(s.bits_per_weight, plain.bits_per_weight);
  ASSERT_EQ(s.layers.size(), plain.layers.size() + 1);
  EXPECT_EQ(s.layers.front().name, "model.embed_tokens");
  EXPECT_EQ(s.layers.front().nbits, 8);

  LoadedModel q = load_model(tmp / "qh", {.dtype = "float32"});
  const Linear* head = slot(q.model, "lm_head");
  ASSERT_NE(q.model.quantized_embedding(), nullptr);
  EXPECT_EQ(q.model.quantized_embedding(), head);  // one matrix, not a copy
  EXPECT_EQ(head->kind(), "hqq");
  // Lookups are the dequantized rows, exactly.
  const at::Tensor t = some_tokens(4096);
  const at::Tensor rows = q.model.embed(t);
  const at::Tensor want =
      dynamic_cast<const HqqLinear*>(head)->dequantized(at::kFloat).index_select(0, t.view(-1));
  EXPECT_TRUE(at::equal(rows.view({-1, 256}), want));
  // The quantized matrix changes the logits (it is used), by a little.
  LoadedModel p = load_model(tmp / "q", {.dtype = "float32"});
  at::NoGradGuard no_grad;
  const at::Tensor a = q.model.forward(t), b = p.model.forward(t);
  const double rel = ((a - b).norm() / b.norm()).item<double>();
  EXPECT_GT(rel, 1e-4);
  EXPECT_LT(rel, 5e-2);
  // The one-token decode step reads the same rows and the same head (within the int8 rounding
  // of activations the VNNI / AVX2 int8 kernels make: measured 0.4 % of the largest logit).
  KvCache cache = q.model.make_cache(1, 64);
  DecodeWorkspace ws(q.model);
  const float* logits = nullptr;
  ASSERT_TRUE(q.model.can_decode());
  for (int64_t i = 0; i < t.size(1); ++i)
    logits = q.model.decode(t[0][i].item<int64_t>(), cache, ws);
  const at::Tensor last = a[0][t.size(1) - 1];
  const at::Tensor got = at::from_blob(const_cast<float*>(logits), {4096}, at::kFloat);
  EXPECT_LT((got - last).abs().max().item<double>(), 1e-2 * last.abs().max().item<double>());
}

// An untied model: each matrix has its own setting, stored under its own name; the export
// writes both back as plain weights equal to the dequantized layers.
TEST(QuantizedEmbedding, UntiedEmbeddingsAndHeadAreQuantizedEachOnItsOwn) {
  TempDir tmp;
  const fs::path src = test::fixtures() / "models" / "llama_gqa_fp32";  // hidden 64, vocab 256
  QuantizeSummary s = test::quantize_to(src, tmp / "q", plan_with("4bit-g64", 4, 4));
  Checkpoint ck = Checkpoint::open(tmp / "q");
  for (const char* m : {"model.embed_tokens", "lm_head"}) {
    EXPECT_TRUE(ck.has(std::string(m) + ".W_q")) << m;
    EXPECT_FALSE(ck.has(std::string(m) + ".weight")) << m;
  }
  LoadedModel q = load_model(tmp / "q", {.dtype = "float32"});
  ASSERT_NE(q.model.quantized_embedding(), nullptr);
  EXPECT_NE(q.model.quantized_embedding(), slot(q.model, "lm_head"));
  EXPECT_EQ(slot(q.model, "lm_head")->kind(), "hqq");
  at::NoGradGuard no_grad;
  const at::Tensor t = some_tokens(256);
  const at::Tensor logits = q.model.forward(t);
  EXPECT_TRUE(logits.isfinite().all().item<bool>());

  export_dequantized({.source = tmp / "q", .output = tmp / "plain"});
  Checkpoint plain = Checkpoint::open(tmp / "plain");
  for (const char* m : {"model.embed_tokens", "lm_head"}) {
    auto layer = load_hqq_linear(ck, m, 256, 64, false, at::kFloat);
    EXPECT_TRUE(
        at::equal(plain.tensor(std::string(m) + ".weight"), layer->dequantized(at::kBFloat16)))
        << m;
  }
  LoadedModel e = load_model(tmp / "plain", {.dtype = "float32"});
  EXPECT_EQ(e.model.quantized_embedding(), nullptr);
  const at::Tensor le = e.model.forward(t);
  // The export is bf16: within its rounding of the quantized model's logits.
  EXPECT_LT(((le - logits).norm() / logits.norm()).item<double>(), 2e-2);
}

TEST(QuantizedEmbedding, BadSettingsAreRefusedBeforeAnythingIsWritten) {
  TempDir tmp;
  const fs::path demo = HQQ_TEST_DEMO_MODEL_DIR;
  // A tied matrix has one format.
  try {
    test::quantize_to(demo, tmp / "a", plan_with("4bit-g64", 8, 4));
    ADD_FAILURE() << "accepted two formats for one tied matrix";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tied"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "a"));
  // 8 bits use groups of 128, which a hidden size of 64 cannot hold.
  try {
    test::quantize_to(test::fixtures() / "models" / "llama_gqa_fp32", tmp / "b",
                      plan_with("4bit-g64", 8, 0));
    ADD_FAILURE() << "accepted a group larger than the hidden size";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head: hidden size 64"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "b"));
  // Plans: the keys round-trip; other widths are refused with the key named.
  const QuantPlan p = QuantPlan::from_json(
      nlohmann::json::parse(R"({"nbits": 2, "lm_head_bits": 8, "embed_bits": 4})"), "plan.json");
  EXPECT_EQ(p.lm_head_bits, 8);
  EXPECT_EQ(p.embed_bits, 4);
  const QuantPlan back = QuantPlan::from_json(p.to_json(), "again");
  EXPECT_EQ(back.lm_head_bits, 8);
  EXPECT_EQ(back.embed_bits, 4);
  EXPECT_FALSE(plan_from_preset("4bit-g64").to_json().contains("lm_head_bits"));
  try {
    QuantPlan::from_json(nlohmann::json::parse(R"({"embed_bits": 3})"), "plan.json");
    ADD_FAILURE() << "accepted embed_bits 3";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("plan.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("embed_bits"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hqq
