#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/base/error.h"
#include "core/generate/perplexity.h"
#include "core/io/checkpoint.h"
#include "core/load/model_loader.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

fs::path source() {
  return test::fixtures() / "models" / "llama_chat_tok1000";
}

QuantPlan mixed_plan() {
  return QuantPlan::from_json(nlohmann::json::parse(R"({
    "nbits": 4, "group_size": 16, "axis": 1, "optimizer": "improved",
    "overrides": [{"match": "mlp", "nbits": 2, "group_size": 32},
                  {"match": "model.layers.1.mlp.down_proj", "skip": true},
                  {"match": "self_attn.v_proj", "axis": 0, "nbits": 3}]})"),
                              "plan.json");
}

std::map<std::string, std::string> file_hashes(const fs::path& dir) {
  std::map<std::string, std::string> h;
  for (const auto& e : fs::directory_iterator(dir))
    h[e.path().filename()] = std::to_string(std::hash<std::string>{}(test::read_file(e.path())));
  return h;
}

TEST(QuantizeModel, MixedPlanRoundTripsBitExactly) {
  TempDir tmp;
  auto before = file_hashes(source());
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q";
  o.plan = mixed_plan();
  std::vector<std::string> seen;
  o.on_layer = [&](const LayerReport& r) { seen.push_back(r.name); };
  QuantizeSummary s = quantize_checkpoint(o);
  EXPECT_EQ(file_hashes(source()), before);  // the source is never modified
  EXPECT_EQ(s.layers.size(), 13u);           // 14 projections, one kept
  EXPECT_EQ(seen.size(), 13u);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model",
                        "tokenizer_config.json", "hqq_report.json"})
    EXPECT_TRUE(fs::exists(tmp / "q" / f)) << f;

  Checkpoint src = Checkpoint::open(source());
  Checkpoint out = Checkpoint::open(tmp / "q");
  EXPECT_FALSE(is_hqq_layer(out, "model.layers.1.mlp.down_proj"));
  EXPECT_TRUE(at::equal(out.tensor("model.layers.1.mlp.down_proj.weight"),
                        src.tensor("model.layers.1.mlp.down_proj.weight")));
  EXPECT_TRUE(
      at::equal(out.tensor("model.embed_tokens.weight"), src.tensor("model.embed_tokens.weight")));
  struct Want {
    const char* module;
    int nbits;
    int64_t group;
    int axis;
  };
  for (Want w : {Want{"model.layers.0.self_attn.q_proj", 4, 16, 1},
                 Want{"model.layers.0.self_attn.v_proj", 3, 16, 0},
                 Want{"model.layers.1.mlp.up_proj", 2, 32, 1}}) {
    auto layer =
        load_hqq_linear(out, w.module, src.entry(std::string(w.module) + ".weight").shape[0],
                        src.entry(std::string(w.module) + ".weight").shape[1], false, at::kFloat);
    EXPECT_EQ(layer->nbits(), w.nbits) << w.module;
    EXPECT_EQ(layer->group_size(), w.group) << w.module;
    EXPECT_EQ(layer->axis(), w.axis) << w.module;
    // Quantizing again in memory gives the very codes and meta that were stored.
    QuantConfig c = *o.plan.config_for(w.module);
    QuantizedTensor q = quantize(src.tensor(std::string(w.module) + ".weight"), c);
    EXPECT_TRUE(at::equal(layer->codes(), q.codes)) << w.module;
    EXPECT_TRUE(at::equal(layer->scale(), q.scale)) << w.module;
    EXPECT_TRUE(at::equal(layer->zero(), q.zero)) << w.module;
    EXPECT_TRUE(at::equal(layer->dequantized(), dequantize(q))) << w.module;
  }
  auto cfg = nlohmann::json::parse(test::read_file(tmp / "q" / "config.json"));
  EXPECT_EQ(cfg["quantization_config"]["quant_method"], "hqq");
  EXPECT_EQ(cfg["quantization_config"]["quant_config"]["weight_quant_params"]["nbits"], 4);
  auto report = nlohmann::json::parse(test::read_file(tmp / "q" / "hqq_report.json"));
  EXPECT_EQ(report["layers"].size(), 13u);
  EXPECT_EQ(report["layers"][0]["histogram"]["original"].size(), 64u);
}

TEST(QuantizeModel, WritesTransformersHqqKeySet) {
  TempDir tmp;
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q";
  o.plan = plan_from_preset("4bit-g64");
  quantize_checkpoint(o);
  auto header = read_safetensors_header((tmp / "q" / "model.safetensors").string());
  std::set<std::string> keys;
  const std::string p = "model.layers.0.self_attn.q_proj.";
  for (const auto& t : header.tensors)
    if (t.name.rfind(p, 0) == 0) keys.insert(t.name.substr(p.size()));
  // reference §7.2: the keys HQQLinear.state_dict() writes, as transformers saves them.
  std::set<std::string> expected = {"W_q",
                                    "scale",
                                    "zero",
                                    "shape",
                                    "nbits",
                                    "group_size",
                                    "axis",
                                    "packing",
                                    "unpack_view_dtype",
                                    "compute_dtype",
                                    "view_as_float",
                                    "quant_scale",
                                    "quant_zero",
                                    "offload_meta",
                                    "encoded_state_dict",
                                    "stores_quant_config",
                                    "channel_wise",
                                    "optimize",
                                    "round_zero"};
  EXPECT_EQ(keys, expected);
  const TensorEntry* wq = header.find(p + "W_q");
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->dtype, DType::U8);
  EXPECT_EQ(wq->shape,
            (std::vector<int64_t>{64 * 64 / 64 / 2, 64}));  // [N*K/g / 2, g] for 4-bit axis 1
  EXPECT_EQ(header.find(p + "scale")->shape, (std::vector<int64_t>{64, 1}));
  Checkpoint out = Checkpoint::open(tmp / "q");
  at::Tensor packing = out.tensor(p + "packing");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(packing.data_ptr()), packing.numel()),
            "4bit_u8");
  EXPECT_EQ(out.tensor(p + "nbits").item<int>(), 4);
  EXPECT_EQ(out.tensor(p + "shape")[1].item<int64_t>(), 64);
}

TEST(QuantizeModel, LoadedModelMatchesInMemoryQuantizationAndEightBitKeepsPerplexity) {
  TempDir tmp;
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q8";
  o.plan = plan_from_preset("8bit-g128");
  o.plan.defaults.group_size = 64;
  quantize_checkpoint(o);
  LoadedModel base = load_model(source(), {.dtype = "float32"});
  LoadedModel q8 = load_model(tmp / "q8", {.dtype = "float32"});
  std::vector<int64_t> tokens;
  std::string text =
      test::read_file(test::shared_data() / "corpora" / "moby-dick" / "moby-dick.txt")
          .substr(0, 8000);
  tokens = base.require_tokenizer().encode(text, true);
  PerplexityOptions p;
  p.ctx = 128;
  double a = perplexity(base.model, tokens, p).ppl, b = perplexity(q8.model, tokens, p).ppl;
  EXPECT_NEAR(b / a, 1.0, 0.01);
  // The loaded model computes exactly what swapping in HqqLinear layers in memory computes.
  Checkpoint src = Checkpoint::open(source());
  for (auto& slot : base.model.linear_slots()) {
    if (slot.name == "lm_head") continue;
    *slot.slot = std::make_unique<HqqLinear>(
        quantize(src.tensor(slot.name + ".weight"), o.plan.defaults), at::Tensor(), at::kFloat);
  }
  at::Tensor t =
      at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + 32), at::kLong).unsqueeze(0);
  EXPECT_TRUE(at::allclose(base.model.forward(t), q8.model.forward(t), 1e-5, 1e-5));
}

TEST(QuantizeModel, CancelLeavesNothingBehind) {
  TempDir tmp;
  CancelToken cancel;
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q";
  o.plan = plan_from_preset("2bit-g32");
  int layers = 0;
  o.on_layer = [&](const LayerReport&) {
    if (++layers == 3) cancel.cancel();
  };
  EXPECT_THROW(quantize_checkpoint(o, {.cancel = &cancel}), Cancelled);
  EXPECT_EQ(layers, 3);
  EXPECT_TRUE(fs::is_empty(tmp.path()));  // neither the output nor a temporary folder
}

TEST(QuantizeModel, RefusesToOverwriteUnlessAsked) {
  TempDir tmp;
  fs::create_directories(tmp / "q");
  test::write_file(tmp / "q" / "keep.txt", "mine");
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q";
  o.plan = plan_from_preset("4bit-g64");
  EXPECT_THROW(quantize_checkpoint(o), InputError);
  EXPECT_EQ(test::read_file(tmp / "q" / "keep.txt"), "mine");
  o.overwrite = true;
  quantize_checkpoint(o);
  EXPECT_FALSE(fs::exists(tmp / "q" / "keep.txt"));
  EXPECT_TRUE(fs::exists(tmp / "q" / "model.safetensors"));
  // Quantizing a quantized model is refused.
  o.source = tmp / "q";
  o.output = tmp / "qq";
  EXPECT_THROW(quantize_checkpoint(o), InputError);
}

TEST(QuantizeModel, BadPlansFailBeforeWritingAnything) {
  TempDir tmp;
  EXPECT_THROW(QuantPlan::from_json(nlohmann::json::parse(R"({"nbits": 5})"), "p.json"),
               InputError);
  EXPECT_THROW(
      QuantPlan::from_json(nlohmann::json::parse(R"({"overrides": [{"nbits": 2}]})"), "p.json"),
      InputError);
  QuantizeOptions o;
  o.source = source();
  o.output = tmp / "q";
  o.plan = plan_from_preset("4bit-g64");
  o.plan.defaults.group_size = 48;  // divides no layer of this model
  try {
    quantize_checkpoint(o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(QuantizeModel, ExportDequantizedLoadsAsAPlainCheckpoint) {
  TempDir tmp;
  test::quantize_to(source(), tmp / "q", "2bit-g32");
  export_dequantized({.source = tmp / "q", .output = tmp / "plain"});
  Checkpoint q = Checkpoint::open(tmp / "q"), plain = Checkpoint::open(tmp / "plain");
  auto layer = load_hqq_linear(q, "model.layers.1.mlp.gate_proj", 160, 64, false, at::kBFloat16);
  EXPECT_TRUE(at::equal(plain.tensor("model.layers.1.mlp.gate_proj.weight"),
                        layer->dequantized(at::kBFloat16)));
  auto cfg = nlohmann::json::parse(test::read_file(tmp / "plain" / "config.json"));
  EXPECT_FALSE(cfg.contains("quantization_config"));
  EXPECT_NO_THROW(load_model(tmp / "plain"));
}

TEST(QuantPlan, MatchingRules) {
  EXPECT_TRUE(module_matches("model.layers.3.mlp.down_proj", "mlp"));
  EXPECT_TRUE(module_matches("model.layers.3.mlp.down_proj", "mlp.down_proj"));
  EXPECT_TRUE(module_matches("model.layers.3.mlp.down_proj", "layers.3"));
  EXPECT_FALSE(module_matches("model.layers.13.mlp.down_proj", "layers.3"));
  EXPECT_TRUE(module_matches("model.layers.13.mlp.down_proj", "model.layers.1*"));
  EXPECT_FALSE(module_matches("model.layers.3.self_attn.q_proj", "mlp"));
  EXPECT_THROW(plan_from_preset("5bit"), InputError);
}

TEST(QuantizeModel, GlobalRelativeErrorCountsLayersWithZeroError) {
  // ||W||² is accumulated per layer, not rebuilt from error / rel_error², which drops layers whose
  // error is zero (an 8-bit layer of a few distinct values, say) and overstates the total.
  QuantizeSummary s;
  LayerReport a, b;
  a.sq_error = 1, a.weight_sq = 100, a.rel_error = 0.1;
  b.sq_error = 0, b.weight_sq = 300, b.rel_error = 0;
  s.layers = {a, b};
  EXPECT_NEAR(s.to_json()["rel_error"].get<double>(), std::sqrt(1.0 / 400.0), 1e-12);
}

}  // namespace
}  // namespace hqq
