#include <gtest/gtest.h>

#include <fstream>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_file.h"
#include "core/model/llama_model.h"
#include "core/model/model_config.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

LlamaModel load(const fs::path& dir, at::ScalarType dtype = at::kFloat) {
  LoadOptions opts;
  opts.dtype = dtype;
  return LlamaModel::load(Checkpoint::open(dir), load_model_config(dir), opts);
}

class ReferenceLogits : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const { return test::fixtures() / "models" / GetParam(); }
};

// The C++ model against the independent Python implementation of HF semantics
// (tests/fixtures/make_fixtures.py), in fp32.
TEST_P(ReferenceLogits, MatchWithin1e4) {
  auto ref = SafetensorsFile::open((dir() / "reference_logits.safetensors").string());
  at::Tensor tokens = ref->tensor("tokens"), expected = ref->tensor("logits");
  LlamaModel model = load(dir());
  at::Tensor logits = model.forward(tokens);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  double err = (logits - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-4) << "max abs error " << err;
}

TEST_P(ReferenceLogits, IncrementalDecodeMatchesFullForward) {
  auto ref = SafetensorsFile::open((dir() / "reference_logits.safetensors").string());
  at::Tensor tokens = ref->tensor("tokens");
  LlamaModel model = load(dir());
  at::Tensor full = model.forward(tokens);
  KvCache cache = model.make_cache(tokens.size(0), tokens.size(1));
  std::vector<at::Tensor> parts = {model.forward(tokens.narrow(1, 0, 5), &cache)};
  for (int64_t t = 5; t < tokens.size(1); ++t)
    parts.push_back(model.forward(tokens.narrow(1, t, 1), &cache));
  at::Tensor inc = at::cat(parts, 1);
  EXPECT_EQ(cache.length(), tokens.size(1));
  EXPECT_LT((inc - full).abs().max().item<double>(), 1e-4);
}

TEST_P(ReferenceLogits, Bf16ComputeStaysClose) {
  auto ref = SafetensorsFile::open((dir() / "reference_logits.safetensors").string());
  LlamaModel model = load(dir(), at::kBFloat16);
  at::Tensor logits = model.forward(ref->tensor("tokens"));
  at::Tensor expected = ref->tensor("logits");
  // bf16 keeps 8 mantissa bits: compare relative to the logits' scale.
  double rel = ((logits - expected).norm() / expected.norm()).item<double>();
  EXPECT_LT(rel, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceLogits,
                         ::testing::Values("llama_gqa_fp32", "llama_tied_llama3_bf16",
                                           "qwen2_bias_fp16", "mistral_window_headdim",
                                           "qwen3_qknorm_tied", "smollm2_tied",
                                           "mistral_nemo_headdim", "phi3_fused", "gemma2_softcap"));

TEST(Model, SlidingWindowChangesLogitsBeyondTheWindow) {
  // Same weights with and without the window: positions < window agree, later ones differ.
  auto dir = test::fixtures() / "models" / "mistral_window_headdim";
  ModelConfig with = load_model_config(dir);
  ModelConfig without = with;
  without.sliding_window.reset();
  Checkpoint ckpt = Checkpoint::open(dir);
  LlamaModel a = LlamaModel::load(ckpt, with), b = LlamaModel::load(ckpt, without);
  at::Tensor tokens = at::arange(12, at::kLong).unsqueeze(0);
  at::Tensor la = a.forward(tokens), lb = b.forward(tokens);
  EXPECT_LT((la.narrow(1, 0, 5) - lb.narrow(1, 0, 5)).abs().max().item<double>(), 1e-5);
  EXPECT_GT((la.narrow(1, 5, 7) - lb.narrow(1, 5, 7)).abs().max().item<double>(), 1e-3);
}

TEST(Model, LinearSlotsCanBeReplaced) {
  LlamaModel model = load(test::fixtures() / "models" / "llama_gqa_fp32");
  auto slots = model.linear_slots();
  EXPECT_EQ(slots.size(), 2u * 7u + 1u);
  EXPECT_EQ(slots[0].name, "model.layers.0.self_attn.q_proj");
  at::Tensor tokens = at::arange(6, at::kLong).unsqueeze(0);
  at::Tensor before = model.forward(tokens);
  // Swap the lm_head for a zero layer through the interface: the logits must become zero.
  *slots.back().slot = std::make_unique<DenseLinear>(at::zeros({256, 64}));
  EXPECT_EQ(model.forward(tokens).abs().max().item<float>(), 0.0f);
  EXPECT_GT(before.abs().max().item<float>(), 0.0f);
}

TEST(Model, TokenOutsideVocabularyIsAnInputError) {
  LlamaModel model = load(test::fixtures() / "models" / "llama_gqa_fp32");
  EXPECT_THROW(model.forward(at::full({1, 2}, 256, at::kLong)), InputError);
}

TEST(Model, CacheOverflowIsReported) {
  LlamaModel model = load(test::fixtures() / "models" / "llama_gqa_fp32");
  KvCache cache = model.make_cache(1, 4);
  EXPECT_THROW(model.forward(at::zeros({1, 5}, at::kLong), &cache), Error);
}

// A copy of a fixture whose config.json is edited by `edit`.
fs::path edited_copy(const test::TempDir& tmp, const std::string& fixture,
                     const std::function<void(nlohmann::json&)>& edit) {
  auto src = test::fixtures() / "models" / fixture;
  for (const auto& e : fs::directory_iterator(src))
    fs::copy(e.path(), tmp / e.path().filename().string());
  nlohmann::json cfg = nlohmann::json::parse(test::read_file(tmp / "config.json"));
  edit(cfg);
  test::write_file(tmp / "config.json", cfg.dump());
  return tmp.path();
}

TEST(Model, TensorsNotMatchingConfigNameTheTensorAndFile) {
  test::TempDir tmp;
  auto dir =
      edited_copy(tmp, "qwen2_bias_fp16", [](nlohmann::json& c) { c["intermediate_size"] = 150; });
  try {
    load(dir);
    FAIL();
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[160, 64]"), std::string::npos) << msg;
  }
}

TEST(Model, MissingTensorIsNamed) {
  test::TempDir tmp;
  auto dir =
      edited_copy(tmp, "llama_gqa_fp32", [](nlohmann::json& c) { c["num_hidden_layers"] = 3; });
  try {
    load(dir);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.2."), std::string::npos) << e.what();
  }
}

TEST(ModelConfig, RejectsWhatItCannotRun) {
  auto base = nlohmann::json::parse(
      test::read_file(test::fixtures() / "models" / "llama_gqa_fp32" / "config.json"));
  auto rejects = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& what) {
    nlohmann::json c = base;
    edit(c);
    try {
      parse_model_config(c, "config.json");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  rejects([](auto& c) { c["model_type"] = "gpt2"; }, "gpt2");
  rejects([](auto& c) { c["hidden_act"] = "gelu"; }, "gelu");
  rejects([](auto& c) { c["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}}; }, "yarn");
  rejects([](auto& c) { c["num_key_value_heads"] = 3; }, "multiple");
  rejects([](auto& c) { c.erase("vocab_size"); }, "vocab_size");
  rejects([](auto& c) { c["hidden_size"] = "big"; }, "hidden_size");
}

TEST(ModelConfig, ReadsVariants) {
  auto c = load_model_config(test::fixtures() / "models" / "qwen2_bias_fp16");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.sliding_window.has_value());  // use_sliding_window is false
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Linear);
  auto m = load_model_config(test::fixtures() / "models" / "mistral_window_headdim");
  EXPECT_EQ(m.head_dim, 32);
  EXPECT_EQ(m.sliding_window.value_or(0), 5);
  auto t = load_model_config(test::fixtures() / "models" / "llama_tied_llama3_bf16");
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_EQ(t.rope_scaling.type, RopeScaling::Type::Llama3);
}

}  // namespace
}  // namespace hqq
