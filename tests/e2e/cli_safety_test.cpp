// End-to-end tests of "nothing lost, no crash, bounded work": outputs that would overwrite a
// source, hostile configs and files, stop signals, runaway options. Each runs the real hqq.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/e2e/cli_support.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::hqq;
using hqq::test::model;
using hqq::test::Result;
using hqq::test::snapshot;
using hqq::test::TempDir;

std::string corpus(size_t n) {
  return hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt")
      .substr(0, n);
}

void expect_refused(const Result& r, const std::string& what) {
  EXPECT_EQ(r.code, 2) << what << "\n" << r.err;
  EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << r.err;
}

TEST(CliSafety, QuantizeNeverWritesOverItsSource) {
  TempDir tmp;
  const fs::path src = tmp / "src";
  hqq::test::copy_folder(model("llama_chat_tok1000"), src);
  const auto before = snapshot(tmp.path());
  fs::create_symlink(src, tmp / "link");
  const auto before_link = snapshot(src);
  const std::string s = src.string();
  for (const std::string& out : {s, s + "/", fs::relative(src).string(), tmp.path().string(),
                                 (tmp / "link").string(), s + "/inner", s + "/../src"}) {
    expect_refused(hqq("-q quantize " + s + " -o " + out + " --overwrite --preset 4bit-g64"),
                   "quantize -o " + out);
    EXPECT_EQ(snapshot(src), before_link) << out;
  }
  fs::remove(tmp / "link");
  EXPECT_EQ(snapshot(tmp.path()), before);
}

TEST(CliSafety, ExportAndFinetuneNeverWriteOverTheirSources) {
  TempDir tmp;
  const fs::path q = tmp / "m" / "q";
  fs::create_directories(tmp / "m");
  ASSERT_EQ(
      hqq("-q quantize " + model("llama_chat_tok1000") + " -o " + q.string() + " --preset 2bit-g32")
          .code,
      0);
  hqq::test::write_file(tmp / "t.txt", corpus(20000));
  const auto before = snapshot(q);
  for (const fs::path& out : {q, fs::path(q.string() + "/"), tmp / "m", q / "x"}) {
    expect_refused(
        hqq("-q export-dequantized " + q.string() + " -o " + out.string() + " --overwrite"),
        "export -o " + out.string());
    EXPECT_EQ(snapshot(q), before);
    expect_refused(hqq("-q finetune " + q.string() + " --data " + (tmp / "t.txt").string() +
                       " -o " + out.string() + " --overwrite --steps 1 --batch 1 --seq-len 16"),
                   "finetune -o " + out.string());
    EXPECT_EQ(snapshot(q), before);
  }
  // The training data is a source too.
  expect_refused(hqq("-q finetune " + q.string() + " --data " + (tmp / "t.txt").string() + " -o " +
                     tmp.path().string() + " --overwrite --steps 1 --batch 1 --seq-len 16"),
                 "finetune -o the data's folder");
  EXPECT_TRUE(fs::exists(tmp / "t.txt"));
}

TEST(CliSafety, SavedReferenceNeverLandsOnItsSourcesOrAnExistingFile) {
  TempDir tmp;
  const fs::path m = tmp / "m";
  hqq::test::copy_folder(model("llama_chat_tok1000"), m);
  const fs::path text = tmp / "t.txt";
  hqq::test::write_file(text, corpus(4000));
  const auto before = snapshot(tmp.path());
  const std::string common = "-q ppl " + m.string() + " --text " + text.string() + " --ctx 32";
  // Into the model folder, over the model's weights, over the text, onto a folder.
  for (const fs::path& out : {m / "ref.kl", m / "model.safetensors", text, tmp.path()}) {
    expect_refused(hqq(common + " --save-reference " + out.string() + " --overwrite"),
                   "--save-reference " + out.string());
    EXPECT_EQ(snapshot(tmp.path()), before) << out;
  }
  // An existing file is replaced only with --overwrite.
  const fs::path ref = tmp / "ref.kl";
  hqq::test::write_file(ref, "keep me");
  Result kept = hqq(common + " --save-reference " + ref.string());
  expect_refused(kept, "existing --save-reference");
  EXPECT_NE(kept.err.find("--overwrite"), std::string::npos) << kept.err;
  EXPECT_EQ(hqq::test::read_file(ref), "keep me");
  Result replaced = hqq(common + " --save-reference " + ref.string() + " --overwrite");
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  EXPECT_NE(hqq::test::read_file(ref), "keep me");
}

TEST(CliSafety, FinetuneReplacesAnAdapterOnlyWithOverwrite) {
  TempDir tmp;
  hqq::test::write_file(tmp / "t.txt", corpus(20000));
  const std::string args = "-q finetune " + model("llama_chat_tok1000") + " --data " +
                           (tmp / "t.txt").string() + " --steps 2 --batch 1 --seq-len 16 -o " +
                           (tmp / "ad").string();
  ASSERT_EQ(hqq(args).code, 0);
  const auto first = snapshot(tmp / "ad");
  Result again = hqq(args);
  EXPECT_EQ(again.code, 2) << again.err;
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
  EXPECT_EQ(snapshot(tmp / "ad"), first);
  EXPECT_EQ(hqq(args + " --overwrite --seed 3").code, 0);
  EXPECT_NE(snapshot(tmp / "ad"), first);
  // No temporary folder is left beside the output.
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

// A PEFT adapter with known A and B for the first layer's q_proj and down_proj.
void write_adapter(const fs::path& dir, float value_a, bool nan = false) {
  fs::create_directories(dir);
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"r", 2},
                        {"lora_alpha", 4},
                        {"target_modules", {"q_proj", "down_proj"}}};
  hqq::test::write_file(dir / "adapter_config.json", cfg.dump());
  auto lin = [](int64_t n, float scale) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = scale * float((i * 37) % 11 - 5);
    return v;
  };
  const std::string p = "base_model.model.model.layers.0.";
  std::map<std::string, hqq::test::F32> t;
  t[p + "self_attn.q_proj.lora_A.weight"] = {{2, 64}, lin(128, value_a)};
  t[p + "self_attn.q_proj.lora_B.weight"] = {{64, 2}, lin(128, 0.1f)};
  t[p + "mlp.down_proj.lora_A.weight"] = {{2, 160}, lin(320, value_a)};
  t[p + "mlp.down_proj.lora_B.weight"] = {{64, 2}, lin(128, -0.1f)};
  if (nan) t[p + "mlp.down_proj.lora_B.weight"].values[5] = std::nanf("");
  hqq::test::write_safetensors_f32(dir / "adapter_model.safetensors", t);
}

TEST(CliSafety, ExportMergesTheAdapter) {
  TempDir tmp;
  const fs::path q = tmp / "q";
  ASSERT_EQ(
      hqq("-q quantize " + model("llama_chat_tok1000") + " -o " + q.string() + " --preset 4bit-g64")
          .code,
      0);
  write_adapter(tmp / "ad", 0.2f);
  ASSERT_EQ(hqq("-q export-dequantized " + q.string() + " -o " + (tmp / "plain").string()).code, 0);
  Result m = hqq("-q export-dequantized " + q.string() + " -o " + (tmp / "merged").string() +
                 " --merge-adapter " + (tmp / "ad").string());
  ASSERT_EQ(m.code, 0) << m.err;
  const auto sa = hqq::test::read_tensor_f32((tmp / "ad" / "adapter_model.safetensors"),
                                             "base_model.model.model.layers.0.self_attn.q_proj."
                                             "lora_A.weight");
  ASSERT_EQ(sa.size(), 128u);
  const fs::path pf = tmp / "plain" / "model.safetensors",
                 mf = tmp / "merged" / "model.safetensors";
  ASSERT_TRUE(fs::exists(pf) && fs::exists(mf));
  // Expected update: scale (alpha / r = 2) * B A, for the two adapted modules; zero elsewhere.
  auto expected = [&](const std::string& module, int64_t out, int64_t in, float bscale) {
    std::vector<float> d(static_cast<size_t>(out * in), 0.0f);
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        float s = 0;
        for (int64_t k = 0; k < 2; ++k) {
          const float b = bscale * float(((o * 2 + k) * 37) % 11 - 5);
          const float a = 0.2f * float(((k * in + i) * 37) % 11 - 5);
          s += b * a;
        }
        d[static_cast<size_t>(o * in + i)] = 2.0f * s;
      }
    (void)module;
    return d;
  };
  struct Case {
    std::string name;
    int64_t out, in;
    float bscale;
  };
  const std::vector<Case> adapted = {{"model.layers.0.self_attn.q_proj.weight", 64, 64, 0.1f},
                                     {"model.layers.0.mlp.down_proj.weight", 64, 160, -0.1f}};
  for (const auto& c : adapted) {
    auto wp = hqq::test::read_tensor_f32(pf, c.name), wm = hqq::test::read_tensor_f32(mf, c.name);
    ASSERT_EQ(wp.size(), size_t(c.out * c.in)) << c.name;
    ASSERT_EQ(wm.size(), wp.size());
    auto d = expected(c.name, c.out, c.in, c.bscale);
    double max_d = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      max_d = std::max(max_d, double(std::fabs(d[i])));
      // bf16 output: each side is rounded to 8 significant bits.
      const double tol = 0.0079 * (std::fabs(wm[i]) + std::fabs(wp[i])) + 1e-6;
      ASSERT_NEAR(wm[i] - wp[i], d[i], tol) << c.name << " [" << i << "]";
    }
    EXPECT_GT(max_d, 0.5);  // the update is far above the rounding
  }
  for (const char* other : {"model.layers.0.self_attn.k_proj.weight",
                            "model.layers.1.self_attn.q_proj.weight", "model.embed_tokens.weight"})
    EXPECT_EQ(hqq::test::read_tensor_f32(pf, other), hqq::test::read_tensor_f32(mf, other))
        << other;

  Result none = hqq("-q export-dequantized " + q.string() + " -o " + (tmp / "x").string() +
                    " --merge-adapter " + (tmp / "no-such-adapter").string());
  expect_refused(none, "a missing adapter");
  EXPECT_NE(none.err.find("no-such-adapter"), std::string::npos) << none.err;
  EXPECT_FALSE(fs::exists(tmp / "x"));
  write_adapter(tmp / "nan", 0.2f, true);
  Result nan = hqq("-q export-dequantized " + q.string() + " -o " + (tmp / "y").string() +
                   " --merge-adapter " + (tmp / "nan").string());
  expect_refused(nan, "an adapter with NaN");
  EXPECT_NE(nan.err.find("finite"), std::string::npos) << nan.err;
  Result gen = hqq("-q --adapter " + (tmp / "nan").string() + " generate " +
                   model("llama_chat_tok1000") + " -p hi -n 2");
  expect_refused(gen, "generate with a NaN adapter");
}

// Writes `cfg` over a copy of a fixture's config.json and returns the copy's folder.
fs::path with_config(const TempDir& tmp, const std::string& name, const std::string& fixture,
                     const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = tmp / name;
  hqq::test::copy_folder(model(fixture), dir);
  auto j = nlohmann::json::parse(hqq::test::read_file(dir / "config.json"));
  edit(j);
  hqq::test::write_file(dir / "config.json", j.dump());
  return dir;
}

TEST(CliSafety, HostileConfigsAreNamedErrors) {
  TempDir tmp;
  const std::string f = "llama_chat_tok1000";
  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"hidden", [](auto& j) { j["hidden_size"] = int64_t{1} << 32; }, "hidden_size"},
      {"layers", [](auto& j) { j["num_hidden_layers"] = 1000000000; }, "num_hidden_layers"},
      {"eps", [](auto& j) { j["rms_norm_eps"] = -1e-5; }, "rms_norm_eps"},
      {"theta", [](auto& j) { j["rope_theta"] = 0; }, "rope_theta"},
      {"vocab", [](auto& j) { j["vocab_size"] = 1200; }, "vocab_size"},
      {"ffn", [](auto& j) { j["intermediate_size"] = 4096; }, "intermediate_size"},
      {"type", [](auto& j) { j["model_type"] = 7; }, "model_type"},
  };
  for (const auto& c : cases) {
    const fs::path dir = with_config(tmp, c.name, f, c.edit);
    for (const std::string& cmd :
         {std::string("info "), "quantize -o " + (tmp / (c.name + "-q")).string() + " "}) {
      Result r = hqq("-q " + cmd + dir.string());
      expect_refused(r, c.name + ": " + cmd);
      EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
      EXPECT_NE(r.err.find(c.name), std::string::npos) << "names the folder: " << r.err;
    }
  }
  // A config nested 200,000 levels deep.
  const fs::path deep = tmp / "deep";
  hqq::test::copy_folder(model(f), deep);
  hqq::test::write_file(deep / "config.json", std::string(200000, '[') + std::string(200000, ']'));
  Result r = hqq("info " + deep.string());
  expect_refused(r, "deep JSON");
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("deep"), std::string::npos) << r.err;
}

TEST(CliSafety, HostileWeightsAreNamedErrors) {
  TempDir tmp;
  // The same tensor in both shards of a sharded checkpoint.
  const fs::path dup = tmp / "dup";
  hqq::test::copy_folder(model("llama_gqa_fp32"), dup);
  {
    const fs::path shard = dup / "model-00002-of-00002.safetensors";
    std::map<std::string, hqq::test::F32> extra;
    // Rewrite shard 2 with an extra copy of a shard-1 tensor: parse and re-emit as F32.
    std::string bytes = hqq::test::read_file(shard);
    uint64_t len = 0;
    std::memcpy(&len, bytes.data(), 8);
    auto h = nlohmann::json::parse(bytes.substr(8, len));
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      std::vector<int64_t> shape;
      auto v = hqq::test::read_tensor_f32(shard, it.key(), &shape);
      extra[it.key()] = {shape, v};
    }
    std::vector<int64_t> shape;
    auto v = hqq::test::read_tensor_f32(dup / "model-00001-of-00002.safetensors",
                                        "model.embed_tokens.weight", &shape);
    extra["model.embed_tokens.weight"] = {shape, v};
    hqq::test::write_safetensors_f32(shard, extra);
  }
  Result d = hqq("info " + dup.string());
  expect_refused(d, "duplicate tensor");
  EXPECT_NE(d.err.find("model.embed_tokens.weight"), std::string::npos) << d.err;

  // Weights near the float maximum.
  const fs::path big = tmp / "big";
  hqq::test::copy_folder(model("llama_gqa_fp32"), big);
  {
    const fs::path shard = big / "model-00001-of-00002.safetensors";
    std::string bytes = hqq::test::read_file(shard);
    uint64_t len = 0;
    std::memcpy(&len, bytes.data(), 8);
    auto h = nlohmann::json::parse(bytes.substr(8, len));
    const auto& e = h["model.layers.0.self_attn.q_proj.weight"];
    const size_t b = e["data_offsets"][0].get<size_t>();
    float* w = reinterpret_cast<float*>(bytes.data() + 8 + len + b);
    for (int i = 0; i < 64; ++i) w[i] = (i % 2 ? -3e38f : 3e38f);
    hqq::test::write_file(shard, bytes);
  }
  Result q = hqq("-q quantize " + big.string() + " -o " + (tmp / "bq").string());
  expect_refused(q, "huge weights");
  EXPECT_NE(q.err.find("model.layers.0.self_attn.q_proj"), std::string::npos) << q.err;
  EXPECT_FALSE(fs::exists(tmp / "bq"));
}

TEST(CliSafety, NoBacktraceAndPlainMessages) {
  TempDir tmp;
  Result fp16 = hqq("-q --dtype fp16 generate " + model("llama_chat_tok1000") + " -p hi -n 2");
  EXPECT_EQ(fp16.err.find("Exception raised from"), std::string::npos) << fp16.err;
  EXPECT_NE(fp16.code, 1) << fp16.err;  // works, or a named bad-input error

  hqq::test::write_file(tmp / "t.txt", corpus(5000));
  Result ctx = hqq("ppl " + model("llama_chat_tok1000") + " --text " + (tmp / "t.txt").string() +
                   " --ctx 0");
  EXPECT_EQ(ctx.code, 2);
  EXPECT_EQ(ctx.err.find("1797"), std::string::npos) << ctx.err;
  EXPECT_NE(ctx.err.find("--ctx"), std::string::npos) << ctx.err;

  // A folder where a file is expected, and a file where a folder is expected.
  Result dir_as_file = hqq("ppl " + model("llama_chat_tok1000") + " --text " + tmp.path().string());
  EXPECT_EQ(dir_as_file.code, 2);
  EXPECT_NE(dir_as_file.err.find("folder"), std::string::npos) << dir_as_file.err;
  Result file_as_dir = hqq("info " + (tmp / "t.txt").string());
  EXPECT_EQ(file_as_dir.code, 2);
  EXPECT_NE(file_as_dir.err.find("not a folder"), std::string::npos) << file_as_dir.err;

  // An output that cannot be created names the output given, not a temporary path.
  Result unwritable =
      hqq("-q quantize " + model("llama_chat_tok1000") + " -o /proc/hqq-cannot-write");
  EXPECT_EQ(unwritable.code, 2) << unwritable.err;
  EXPECT_NE(unwritable.err.find("/proc/hqq-cannot-write"), std::string::npos) << unwritable.err;
  EXPECT_EQ(unwritable.err.find(".tmp-"), std::string::npos) << unwritable.err;

  // A JSON type error in adapter_config.json names the file and the key.
  write_adapter(tmp / "ad", 0.2f);
  nlohmann::json cfg =
      nlohmann::json::parse(hqq::test::read_file(tmp / "ad" / "adapter_config.json"));
  cfg["rank_pattern"] = {{"q_proj", "eight"}};
  hqq::test::write_file(tmp / "ad" / "adapter_config.json", cfg.dump());
  Result type = hqq("-q --adapter " + (tmp / "ad").string() + " generate " +
                    model("llama_chat_tok1000") + " -p hi -n 2");
  EXPECT_EQ(type.code, 2) << type.err;
  EXPECT_NE(type.err.find("adapter_config.json"), std::string::npos) << type.err;
  EXPECT_NE(type.err.find("rank_pattern"), std::string::npos) << type.err;
  EXPECT_EQ(type.err.find("json.exception"), std::string::npos) << type.err;
}

TEST(CliSafety, ThreadsAreCappedAtTheMachine) {
  Result r =
      hqq("--threads 100000 -q --json generate " + model("llama_chat_tok1000") + " -p hi -n 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("threads"), std::string::npos) << r.err;
}

TEST(CliSafety, DivergingFinetuneStopsWithAClearError) {
  TempDir tmp;
  hqq::test::write_file(tmp / "t.txt", corpus(20000));
  Result r = hqq("-q finetune " + model("llama_chat_tok1000") + " --data " +
                 (tmp / "t.txt").string() + " -o " + (tmp / "ad").string() +
                 " --steps 20 --batch 1 --seq-len 16 --lr 1e30 --warmup 0 --clip 0 --save-every 1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("finite"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "ad" / "adapter_model.safetensors"));
  // The last good checkpoint stays, and holds finite numbers only.
  const fs::path ck = tmp / "ad" / "checkpoint" / "adapter_model.safetensors";
  if (fs::exists(ck)) {
    std::string bytes = hqq::test::read_file(ck);
    uint64_t len = 0;
    std::memcpy(&len, bytes.data(), 8);
    const auto header = nlohmann::json::parse(bytes.substr(8, len));
    for (auto& [name, e] : header.items()) {
      if (name == "__metadata__") continue;
      for (float v : hqq::test::read_tensor_f32(ck, name)) ASSERT_TRUE(std::isfinite(v)) << name;
    }
  }
}

// A signal ends a long job within a couple of seconds, exit 130/143, and leaves nothing behind.
void expect_stops_on(int sig, const std::vector<std::string>& args, const TempDir& tmp,
                     const fs::path& output, std::chrono::milliseconds run_for) {
  TempDir logs;
  pid_t pid = hqq::test::spawn_hqq(args, logs.path());
  // Signal once the job is under way (its first progress line), not while libtorch still loads.
  for (int i = 0; i < 3000 && hqq::test::read_file(logs / "err").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(run_for);
  ASSERT_EQ(::waitpid(pid, nullptr, WNOHANG), 0)
      << "the job ended before the signal: " << hqq::test::read_file(logs / "err");
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, sig);
  // Bounds for a loaded 2-core CI machine and the ASan build: a job that ignored the signal
  // would run for hours (a million steps), so any bound of seconds tells the two apart.
  const int status = hqq::test::wait_for(pid, std::chrono::milliseconds(30000));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NE(status, -1) << "still running 30 s after the signal";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_TRUE(WEXITSTATUS(status) == 130 || WEXITSTATUS(status) == 143) << WEXITSTATUS(status);
  EXPECT_LT(secs, 15.0);
  EXPECT_FALSE(fs::exists(output));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(CliSafety, SigtermAndSigintStopFinetuneAtOnce) {
  TempDir tmp;
  hqq::test::write_file(tmp / "t.txt", corpus(20000));
  const std::vector<std::string> args = {"-q",
                                         "finetune",
                                         model("llama_chat_tok1000"),
                                         "--data",
                                         (tmp / "t.txt").string(),
                                         "-o",
                                         (tmp / "ad").string(),
                                         "--steps",
                                         "1000000",
                                         "--batch",
                                         "2",
                                         "--seq-len",
                                         "32"};
  expect_stops_on(SIGTERM, args, tmp, tmp / "ad", std::chrono::milliseconds(500));
  expect_stops_on(SIGINT, args, tmp, tmp / "ad", std::chrono::milliseconds(500));
}

TEST(CliSafety, SigtermStopsQuantizeAtOnce) {
  TempDir tmp;
  // Many solver iterations make the tiny fixture's quantization last long enough to signal it.
  const std::vector<std::string> args = {
      "quantize", model("llama_gqa_fp32"), "-o",       (tmp / "q").string(), "--iters",
      "10000",    "--optimizer",           "reference"};
  expect_stops_on(SIGTERM, args, tmp, tmp / "q", std::chrono::milliseconds(500));
}

}  // namespace
