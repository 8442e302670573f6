// Model families beyond Llama: Qwen3, SmolLM2, Mistral-Nemo, Phi-3 (fused projections split at
// load, joined on export), Gemma 2. Their logits against the Python reference are checked by
// model_test.cpp's ReferenceLogits suite; here: that each family feature matters, the Phi-3
// split/join round trip, and the config keys that are refused.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_file.h"
#include "core/load/model_loader.h"
#include "core/model/llama_model.h"
#include "core/model/model_config.h"
#include "core/model/module_names.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/plan_size.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& name) {
  return test::fixtures() / "models" / name;
}

struct Reference {
  at::Tensor tokens, logits;
};
Reference reference(const std::string& name) {
  auto f = SafetensorsFile::open((fixture(name) / "reference_logits.safetensors").string());
  return {f->tensor("tokens"), f->tensor("logits")};
}

// Max |logits - reference| of the fixture's model loaded with `edit` applied to its config.
double error_with(const std::string& name, const std::function<void(ModelConfig&)>& edit) {
  ModelConfig c = load_model_config(fixture(name));
  edit(c);
  LlamaModel m = LlamaModel::load(Checkpoint::open(fixture(name)), c);
  Reference r = reference(name);
  return (m.forward(r.tokens) - r.logits).abs().max().item<double>();
}

TEST(Families, ConfigsReadAsTransformersDoes) {
  auto q = load_model_config(fixture("qwen3_qknorm_tied"));
  EXPECT_TRUE(q.qk_norm);
  EXPECT_FALSE(q.qkv_bias);
  EXPECT_TRUE(q.tie_word_embeddings);
  EXPECT_EQ(q.head_dim, 32);
  EXPECT_FALSE(q.layer_window(0).has_value());
  auto s = load_model_config(fixture("smollm2_tied"));
  EXPECT_EQ(s.model_type, "llama");
  EXPECT_TRUE(s.tie_word_embeddings);
  EXPECT_EQ(s.num_attention_heads, 3);
  auto n = load_model_config(fixture("mistral_nemo_headdim"));
  EXPECT_EQ(n.head_dim, 24);
  EXPECT_NE(n.head_dim * n.num_attention_heads, n.hidden_size);
  EXPECT_FALSE(n.sliding_window.has_value());
  auto p = load_model_config(fixture("phi3_fused"));
  EXPECT_TRUE(p.fused_projections);
  EXPECT_EQ(p.layer_window(1).value_or(0), 6);
  auto g = load_model_config(fixture("gemma2_softcap"));
  EXPECT_EQ(g.hidden_act, ModelConfig::Activation::GeluTanh);
  EXPECT_TRUE(g.norm_adds_one && g.sandwich_norms && g.tie_word_embeddings);
  EXPECT_EQ(g.layer_window(0).value_or(0), 4);  // even layers slide
  EXPECT_FALSE(g.layer_window(1).has_value());
  EXPECT_NEAR(g.attention_scale, 1.0 / std::sqrt(24.0), 1e-12);
  EXPECT_NEAR(g.embedding_multiplier, 8.0, 1e-12);
  EXPECT_EQ(g.attn_logit_softcapping.value_or(0), 2.0);
  EXPECT_EQ(g.final_logit_softcapping.value_or(0), 3.0);
}

TEST(Families, QwenSlidesFromMaxWindowLayersOnlyWithUseSlidingWindow) {
  auto base = nlohmann::json::parse(test::read_file(fixture("qwen2_bias_fp16") / "config.json"));
  base["sliding_window"] = 4;
  base["max_window_layers"] = 1;
  ModelConfig off = parse_model_config(base, "config.json");
  EXPECT_FALSE(off.layer_window(1).has_value());
  base["use_sliding_window"] = true;
  ModelConfig on = parse_model_config(base, "config.json");
  EXPECT_FALSE(on.layer_window(0).has_value());
  EXPECT_EQ(on.layer_window(1).value_or(0), 4);
  base["layer_types"] = {"sliding_attention", "full_attention"};  // authoritative when given
  ModelConfig listed = parse_model_config(base, "config.json");
  EXPECT_EQ(listed.layer_window(0).value_or(0), 4);
  EXPECT_FALSE(listed.layer_window(1).has_value());
  // The window of layer 1 changes what positions >= 4 see, and nothing before.
  Checkpoint ckpt = Checkpoint::open(fixture("qwen2_bias_fp16"));
  at::Tensor tokens = at::arange(10, at::kLong).unsqueeze(0);
  at::Tensor a = LlamaModel::load(ckpt, off).forward(tokens),
             b = LlamaModel::load(ckpt, on).forward(tokens);
  EXPECT_LT((a.narrow(1, 0, 4) - b.narrow(1, 0, 4)).abs().max().item<double>(), 1e-5);
  EXPECT_GT((a.narrow(1, 4, 6) - b.narrow(1, 4, 6)).abs().max().item<double>(), 1e-3);
}

// The reference suite passes at 1e-4; each feature switched off must break it, so that suite
// really checks the feature.
TEST(Families, EachFeatureChangesTheLogits) {
  EXPECT_LT(error_with("gemma2_softcap", [](ModelConfig&) {}), 1e-4);
  EXPECT_GT(error_with("gemma2_softcap", [](ModelConfig& c) { c.final_logit_softcapping.reset(); }),
            1e-2);
  EXPECT_GT(error_with("gemma2_softcap", [](ModelConfig& c) { c.attn_logit_softcapping.reset(); }),
            1e-2);
  EXPECT_GT(error_with("gemma2_softcap", [](ModelConfig& c) { c.sliding_layers.clear(); }), 1e-2);
  EXPECT_GT(
      error_with("gemma2_softcap", [](ModelConfig& c) { c.attention_scale = 1 / std::sqrt(32.0); }),
      1e-2);
  EXPECT_GT(error_with("gemma2_softcap", [](ModelConfig& c) { c.embedding_multiplier = 1; }), 1e-2);
  EXPECT_GT(error_with("gemma2_softcap",
                       [](ModelConfig& c) { c.hidden_act = ModelConfig::Activation::Silu; }),
            1e-2);
  EXPECT_GT(error_with("qwen3_qknorm_tied", [](ModelConfig& c) { c.qk_norm = false; }), 1e-2);
  EXPECT_GT(error_with("phi3_fused", [](ModelConfig& c) { c.sliding_window.reset(); }), 1e-2);
}

TEST(Families, Phi3ProjectionsAreSeparateLayersWithTheUsualNames) {
  LlamaModel m = LlamaModel::load(Checkpoint::open(fixture("phi3_fused")),
                                  load_model_config(fixture("phi3_fused")));
  auto slots = m.linear_slots();
  ASSERT_EQ(slots.size(), 2u * 7u + 1u);
  const auto names = decoder_projections(2);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(slots[i].name, names[i]);
  // q: 4 heads x 16, k/v: 2 x 16, gate/up: 160 rows of the fused [320, 64] gate_up_proj.
  EXPECT_EQ((*slots[0].slot)->out_features(), 64);
  EXPECT_EQ((*slots[1].slot)->out_features(), 32);
  EXPECT_EQ((*slots[4].slot)->out_features(), 160);
  // The planner's shapes are the split ones.
  for (const auto& s : projection_shapes(m.config())) {
    if (s.name == "model.layers.0.mlp.gate_proj") {
      EXPECT_EQ(s.out_features, 160);
    }
    if (s.name == "model.layers.0.self_attn.v_proj") {
      EXPECT_EQ(s.out_features, 32);
    }
  }
}

TEST(Families, Phi3QuantizesPartByPartAndExportsFused) {
  test::TempDir tmp;
  const auto src = fixture("phi3_fused");
  test::quantize_to(src, tmp / "q", "2bit-g32");
  Checkpoint q = Checkpoint::open(tmp / "q");
  EXPECT_TRUE(is_hqq_layer(q, "model.layers.0.self_attn.k_proj"));
  EXPECT_TRUE(is_hqq_layer(q, "model.layers.1.mlp.up_proj"));
  EXPECT_FALSE(q.has("model.layers.0.self_attn.qkv_proj.weight"));

  export_dequantized({.source = tmp / "q", .output = tmp / "plain"});
  Checkpoint plain = Checkpoint::open(tmp / "plain");
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    EXPECT_EQ(plain.entry(p + "self_attn.qkv_proj.weight").shape, (std::vector<int64_t>{128, 64}));
    EXPECT_EQ(plain.entry(p + "mlp.gate_up_proj.weight").shape, (std::vector<int64_t>{320, 64}));
    for (const char* part : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                             "mlp.gate_proj", "mlp.up_proj"})
      EXPECT_FALSE(plain.has(p + part + ".weight")) << part;
  }
  // The joined checkpoint computes what the quantized one does (bf16 rounding of the weights).
  Reference r = reference("phi3_fused");
  at::Tensor lq = load_model(tmp / "q", {.dtype = "float32"}).model.forward(r.tokens);
  at::Tensor lp = load_model(tmp / "plain", {.dtype = "float32"}).model.forward(r.tokens);
  EXPECT_LT(((lq - lp).norm() / lq.norm()).item<double>(), 0.02);
  EXPECT_GT((lq - r.logits).abs().max().item<double>(), 1e-3);  // it was quantized

  // Exporting the (bf16) source itself is exact: the join puts every row back where it was.
  export_dequantized({.source = src, .output = tmp / "same"});
  Checkpoint a = Checkpoint::open(src), b = Checkpoint::open(tmp / "same");
  for (const auto& name : a.names()) {
    ASSERT_TRUE(b.has(name)) << name;
    EXPECT_TRUE(at::equal(a.tensor(name), b.tensor(name))) << name;
  }
  EXPECT_EQ(a.names(), b.names());
}

TEST(Families, Phi3KeepsAFusedProjectionFusedWhenNoPartIsQuantized) {
  test::TempDir tmp;
  const auto src = fixture("phi3_fused");
  auto plan = QuantPlan::from_json(nlohmann::json::parse(R"({
    "nbits": 4, "group_size": 32, "axis": 1,
    "overrides": [{"match": "self_attn", "skip": true}, {"match": "mlp.up_proj", "skip": true}]})"),
                                   "plan.json");
  test::quantize_to(src, tmp / "q", plan);
  Checkpoint a = Checkpoint::open(src), q = Checkpoint::open(tmp / "q");
  const std::string qkv = "model.layers.1.self_attn.qkv_proj.weight";
  ASSERT_TRUE(q.has(qkv));
  EXPECT_TRUE(at::equal(a.tensor(qkv), q.tensor(qkv)));
  EXPECT_FALSE(q.has("model.layers.1.self_attn.q_proj.weight"));
  // gate_proj is quantized, so gate_up_proj is written as parts: a quantized gate, a dense up.
  EXPECT_TRUE(is_hqq_layer(q, "model.layers.1.mlp.gate_proj"));
  EXPECT_TRUE(q.has("model.layers.1.mlp.up_proj.weight"));
  EXPECT_FALSE(q.has("model.layers.1.mlp.gate_up_proj.weight"));
  // Both forms load into one model.
  Reference r = reference("phi3_fused");
  at::Tensor lq = load_model(tmp / "q", {.dtype = "float32"}).model.forward(r.tokens);
  EXPECT_LT(((lq - r.logits).norm() / r.logits.norm()).item<double>(), 0.1);
}

TEST(Families, RefusesWhatItDoesNotImplementNamingTheKey) {
  auto config_of = [](const std::string& name) {
    return nlohmann::json::parse(test::read_file(fixture(name) / "config.json"));
  };
  auto rejects = [](nlohmann::json c, const std::function<void(nlohmann::json&)>& edit,
                    const std::vector<std::string>& words) {
    edit(c);
    try {
      parse_model_config(c, "config.json");
      ADD_FAILURE() << "accepted: " << c.dump();
    } catch (const InputError& e) {
      for (const auto& w : words)
        EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
    }
  };
  auto phi3 = config_of("phi3_fused"), gemma = config_of("gemma2_softcap");
  for (const char* type : {"longrope", "su"})
    rejects(phi3,
            [&](auto& c) {
              c["rope_scaling"] = {{"type", type}, {"short_factor", {1.0}}, {"long_factor", {1.0}}};
            },
            {"rope_scaling", type});
  rejects(phi3, [](auto& c) { c["partial_rotary_factor"] = 0.75; }, {"partial_rotary_factor"});
  rejects(gemma, [](auto& c) { c["hidden_activation"] = "gelu"; }, {"hidden_activation", "gelu"});
  rejects(gemma,
          [](auto& c) {
            c["layer_types"] = {"chunked_attention", "full_attention"};
          },
          {"layer_types", "chunked_attention"});
  rejects(gemma, [](auto& c) { c["layer_types"] = {"full_attention"}; }, {"layer_types"});
  rejects(gemma, [](auto& c) { c["attn_logit_softcapping"] = -1; }, {"attn_logit_softcapping"});
  rejects(gemma, [](auto& c) { c["query_pre_attn_scalar"] = nullptr; }, {"query_pre_attn_scalar"});
  rejects(gemma, [](auto& c) { c["use_bidirectional_attention"] = true; },
          {"use_bidirectional_attention"});
  rejects(config_of("qwen3_qknorm_tied"), [](auto& c) { c["hidden_act"] = "relu"; },
          {"hidden_act", "relu"});
  rejects(gemma, [](auto& c) { c["model_type"] = "gemma3"; }, {"model_type", "gemma3"});
}

TEST(Families, MissingFamilyTensorIsNamed) {
  // A Qwen3 folder without its q_norm weights is not silently run as Qwen2.
  test::TempDir tmp;
  for (const auto& e : fs::directory_iterator(fixture("qwen2_bias_fp16")))
    fs::copy(e.path(), tmp / e.path().filename().string());
  auto cfg = nlohmann::json::parse(test::read_file(tmp / "config.json"));
  cfg["model_type"] = "qwen3";
  cfg["attention_bias"] = true;
  test::write_file(tmp / "config.json", cfg.dump());
  try {
    load_model(tmp.path(), {.dtype = "float32"});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("self_attn.q_norm.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hqq
