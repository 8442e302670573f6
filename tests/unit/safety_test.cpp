// The guards of "nothing lost, no crash, bounded work" at the depth where they live: the one
// output-folder mechanism, the one JSON reader, the config checks, the export merge, chunked
// tokenization and the trainer's divergence stop.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/checkpoint.h"
#include "core/io/output_folder.h"
#include "core/io/safetensors_file.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "core/model/model_config.h"
#include "core/quant/quantize_model.h"
#include "core/train/trainer.h"
#include "core/train/training_data.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& name = "llama_chat_tok1000") {
  return test::fixtures() / "models" / name;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(OutputFolder, RefusesOutputsThatAreContainOrSitInsideASource) {
  test::TempDir tmp;
  const fs::path src = tmp / "src";
  fs::create_directories(src / "sub");
  test::write_file(src / "a.txt", "keep");
  fs::create_directory_symlink(src, tmp / "link");
  for (const fs::path& t : {src, fs::path(src.string() + "/"), src / "sub", src / "new", tmp.path(),
                            tmp / "link", src / ".." / "src", tmp / "link" / "x"}) {
    EXPECT_NE(error_of([&] { OutputFolder out(t, /*overwrite=*/true, {src}); }), "") << t;
    EXPECT_EQ(test::read_file(src / "a.txt"), "keep");
  }
  // A file source: the output may not be it or contain it.
  EXPECT_NE(error_of([&] { OutputFolder out(src / "a.txt", true, {src / "a.txt"}); }), "");
  // Beside the source is fine, and commits.
  {
    OutputFolder out(tmp / "beside", false, {src});
    test::write_file(out.path() / "x", "1");
    out.commit();
  }
  EXPECT_TRUE(fs::exists(tmp / "beside" / "x"));
  // An unwritable output names the output, not the temporary folder.
  const std::string msg = error_of([] { OutputFolder out("/proc/hqq-no", false); });
  EXPECT_NE(msg.find("/proc/hqq-no"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(".tmp-"), std::string::npos) << msg;
}

TEST(JsonFile, DeepNestingIsAnInputErrorNotACrash) {
  test::TempDir tmp;
  test::write_file(tmp / "deep.json", std::string(200000, '[') + std::string(200000, ']'));
  const std::string msg = error_of([&] { read_json_file(tmp / "deep.json"); });
  EXPECT_NE(msg.find("deep.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nested"), std::string::npos) << msg;
  // Brackets inside strings do not count; ordinary nesting parses.
  EXPECT_EQ(parse_json_text("{\"a\": \"" + std::string(1000, '[') + "\", \"b\": [[1]]}", "x")["b"],
            nlohmann::json::parse("[[1]]"));
  EXPECT_NE(error_of([&] { read_json_file(tmp.path()); }).find("folder"), std::string::npos);
}

TEST(ModelConfig, SizesAreBoundedAndCheckedAgainstTheWeights) {
  nlohmann::json base = read_json_file(fixture() / "config.json");
  auto msg_for = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = base;
    j[key] = v;
    return error_of([&] { parse_model_config(j, "cfg"); });
  };
  EXPECT_NE(msg_for("hidden_size", int64_t{1} << 32).find("hidden_size"), std::string::npos);
  EXPECT_NE(msg_for("num_hidden_layers", 1000000000).find("num_hidden_layers"), std::string::npos);
  EXPECT_NE(msg_for("rms_norm_eps", -1e-5).find("rms_norm_eps"), std::string::npos);
  EXPECT_NE(msg_for("rope_theta", 0).find("rope_theta"), std::string::npos);
  EXPECT_NE(msg_for("model_type", 7).find("model_type"), std::string::npos);
  // Within the bounds but not what the tensors hold.
  Checkpoint ckpt = Checkpoint::open(fixture());
  for (auto [key, value, expect] :
       {std::tuple<const char*, int64_t, const char*>{"num_hidden_layers", 5, "hold 2 layers"},
        {"vocab_size", 1200, "model.embed_tokens.weight"},
        {"hidden_size", 128, "model.embed_tokens.weight"},
        {"intermediate_size", 4096, "gate_proj"}}) {
    nlohmann::json j = base;
    j[key] = value;
    const ModelConfig c = parse_model_config(j, "cfg");
    const std::string msg = error_of([&] { check_config_against_weights(c, ckpt); });
    EXPECT_NE(msg.find(expect), std::string::npos) << key << ": " << msg;
  }
  EXPECT_EQ(error_of([&] { check_config_against_weights(parse_model_config(base, "c"), ckpt); }),
            "");
}

TEST(ExportDequantized, MergesTheAdapterUpdateExactlyWhereItApplies) {
  test::TempDir tmp;
  test::quantize_to(fixture(), tmp / "q", "4bit-g64");
  // An adapter on q_proj and down_proj with non-zero B, saved in the PEFT format.
  LoadedModel m = load_model(tmp / "q", {.dtype = "float32"});
  LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 8;
  cfg.target_modules = {"q_proj", "down_proj"};
  apply_lora(m.model, cfg, 1);
  at::manual_seed(3);
  for (auto& [name, l] : lora_layers(m.model)) l->lora_b() = at::randn(l->lora_b().sizes()) * 0.5;
  save_adapter(m.model, cfg, tmp / "ad");
  const auto deltas = adapter_deltas(tmp / "ad");
  ASSERT_EQ(deltas.size(), 4u);  // 2 layers x 2 modules

  export_dequantized({.source = tmp / "q", .output = tmp / "plain"});
  export_dequantized({.source = tmp / "q", .output = tmp / "merged", .adapter = tmp / "ad"});
  Checkpoint plain = Checkpoint::open(tmp / "plain"), merged = Checkpoint::open(tmp / "merged");
  ASSERT_EQ(plain.names(), merged.names());
  for (const auto& name : plain.names()) {
    at::Tensor p = plain.tensor(name).to(at::kFloat), q = merged.tensor(name).to(at::kFloat);
    const std::string module = name.substr(0, name.rfind('.'));
    auto d = deltas.find(module);
    if (d == deltas.end() || name.substr(name.rfind('.')) != ".weight") {
      EXPECT_TRUE(at::equal(p, q)) << name;
      continue;
    }
    // Both sides are bf16: the difference is the update within bf16 rounding of each side.
    at::Tensor tol = (p.abs() + q.abs()) * (1.0 / 128) + 1e-6;
    EXPECT_TRUE(((q - p) - d->second).abs().le(tol).all().item<bool>()) << name;
    EXPECT_GT(d->second.abs().max().item<double>(), 0.05) << name;  // far above the rounding
  }
  EXPECT_NE(error_of([&] {
              export_dequantized(
                  {.source = tmp / "q", .output = tmp / "x", .adapter = tmp / "no-adapter"});
            }).find("no-adapter"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "x"));
}

TEST(TrainingData, LongTextsAreTokenizedInPiecesWithTheSameTokens) {
  test::TempDir tmp;
  const std::string text =
      test::read_file(test::shared_data() / "corpora" / "kjv" / "kjv.txt").substr(0, 700000);
  test::write_file(tmp / "t.txt", text);
  Tokenizer tok = Tokenizer::load(fixture());
  // sentencepiece marks a word start itself; byte-level tokenizer.json files (Llama 3.2, GPT-2)
  // keep the space in the next word's token; Mixtral's prepends U+2581 to the text.
  for (const fs::path& dir : {fixture(), test::shared_data() / "tokenizers" / "llama-3.2",
                              test::shared_data() / "tokenizers" / "gpt2",
                              test::shared_data() / "tokenizers" / "mixtral-8x22b"}) {
    Tokenizer t = Tokenizer::load(dir);
    TokenWindows d = load_training_data({tmp / "t.txt"}, t, 16);
    const std::vector<int64_t> whole = t.encode(text, true);
    ASSERT_EQ(d.stream.size(), whole.size()) << dir;
    EXPECT_TRUE(std::equal(whole.begin(), whole.end(), d.stream.begin())) << dir;
  }
  // A cancelled load stops between pieces.
  CancelToken cancel;
  cancel.cancel();
  EXPECT_THROW(load_training_data({tmp / "t.txt"}, tok, 16, DataFormat::Auto, {.cancel = &cancel}),
               Cancelled);
}

TEST(Trainer, StopsOnANonFiniteLoss) {
  test::TempDir tmp;
  test::write_file(
      tmp / "t.txt",
      test::read_file(test::shared_data() / "corpora" / "kjv" / "kjv.txt").substr(0, 20000));
  LoadedModel m = load_model(fixture(), {.dtype = "float32"});
  TokenWindows data = load_training_data({tmp / "t.txt"}, m.require_tokenizer(), 16);
  apply_lora(m.model, LoraConfig{}, 0);  // as hqq finetune does, where --lr 1e30 wrote NaNs
  std::vector<std::pair<std::string, at::Tensor*>> lora;
  for (auto& [name, l] : lora_layers(m.model))
    for (auto& [pname, t] : l->parameters()) lora.push_back({name + "." + pname, t});
  auto params = make_trainable(lora);
  TrainOptions o;
  o.steps = 10;
  o.batch_size = 1;
  o.lr = 1e30;
  o.warmup_steps = 0;
  o.clip_norm = 0;
  o.eval_every = 0;
  Trainer t(m.model, params, o, data);
  const std::string msg = error_of([&] { t.run({}); });
  EXPECT_NE(msg.find("not finite"), std::string::npos) << msg;
  for (auto& [name, p] : params) ASSERT_TRUE(at::isfinite(*p).all().item<bool>()) << name;
}

}  // namespace
}  // namespace hqq
