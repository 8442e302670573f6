// The fused one-token decode step (LlamaModel::decode, core/model/decode_step.cpp) against the
// reference: the full forward pass over the whole sequence without a cache. Every family
// fixture (GQA, q/k/v bias, q/k norms, sandwich norms, soft-capping, sliding windows, tied
// embeddings, explicit head_dim) and every weight format (fp32, bf16, 4-bit, 2-bit, two-level).
#include <gtest/gtest.h>

#include <cmath>

#include "core/generate/generate.h"
#include "core/load/model_loader.h"
#include "core/model/decode_step.h"
#include "kernels/decode_ops.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

struct Gap {
  double max_abs = 0, ref_max = 0;  // largest |decode - reference|, largest |reference|
  bool same_argmax = true;
};

// Prefills `prompt` tokens with forward(), then decodes the rest of `seq` one token at a time
// with decode(); each step's logits are compared with forward(seq[0..t]) (no cache).
Gap decode_gap(const LlamaModel& m, const std::vector<int64_t>& seq, size_t prompt) {
  KvCache cache = m.make_cache(1, static_cast<int64_t>(seq.size()));
  std::vector<int64_t> head(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(prompt));
  m.forward(at::tensor(head, at::kLong).unsqueeze(0), &cache);
  DecodeWorkspace ws(m);
  Gap g;
  const int64_t V = m.config().vocab_size;
  for (size_t t = prompt; t < seq.size(); ++t) {
    const float* got = m.decode(seq[t], cache, ws);
    std::vector<int64_t> upto(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(t + 1));
    at::Tensor ref = m.forward(at::tensor(upto, at::kLong).unsqueeze(0))[0][-1].contiguous();
    at::Tensor dec = at::from_blob(const_cast<float*>(got), {V}, at::kFloat).clone();
    g.max_abs = std::max(g.max_abs, (dec - ref).abs().max().item<double>());
    g.ref_max = std::max(g.ref_max, ref.abs().max().item<double>());
    g.same_argmax = g.same_argmax && dec.argmax().item<int64_t>() == ref.argmax().item<int64_t>();
  }
  EXPECT_EQ(cache.length(), static_cast<int64_t>(seq.size()));
  return g;
}

std::vector<int64_t> some_tokens(int64_t vocab, size_t n) {
  std::vector<int64_t> t;
  for (size_t i = 0; i < n; ++i) t.push_back(static_cast<int64_t>((i * 7919 + 13) % vocab));
  return t;
}

LlamaModel load(const fs::path& dir, const std::string& dtype) {
  LoadedModel lm = load_model(dir, {.dtype = dtype});
  return std::move(lm.model);
}

TEST(Decode, MatchesFullForwardOnEveryFamilyFixture) {
  for (const char* name : {"llama_gqa_fp32", "qwen2_bias_fp16", "qwen3_qknorm_tied",
                           "gemma2_softcap", "mistral_window_headdim", "mistral_nemo_headdim",
                           "phi3_fused", "smollm2_tied", "llama_tied_llama3_bf16"}) {
    SCOPED_TRACE(name);
    LlamaModel m = load(test::fixtures() / "models" / name, "float32");
    ASSERT_TRUE(m.can_decode());
    // Long enough to pass the sliding windows of the window fixtures.
    const Gap g = decode_gap(m, some_tokens(m.config().vocab_size, 24), 5);
    EXPECT_LT(g.max_abs, 2e-4 * std::max(1.0, g.ref_max));
    EXPECT_TRUE(g.same_argmax);
  }
}

// bf16 compute: the reference rounds every activation to bf16, decode keeps fp32; the gap is
// a few bf16 steps of the logits, far below what a wrong position or head would make.
TEST(Decode, MatchesFullForwardInBf16) {
  LlamaModel m = load(HQQ_TEST_DEMO_MODEL_DIR, "bfloat16");
  ASSERT_TRUE(m.can_decode());
  const Gap g = decode_gap(m, some_tokens(m.config().vocab_size, 20), 6);
  EXPECT_LT(g.max_abs, 0.03 * g.ref_max);
  EXPECT_GT(g.ref_max, 1.0);
}

// Quantized layers: decode runs the fused low-bit kernels (int8 activations on VNNI), the full
// forward dequantized tiles and a GEMM; the kernels' error budget is half an activation step
// per term, about 1 % of the logits here.
TEST(Decode, MatchesFullForwardOnQuantizedFormats) {
  test::TempDir tmp;
  for (const char* preset : {"4bit-g64", "2bit-g64", "2bit-tl-g16", "1bit-tl-g16", "8bit-g128"}) {
    SCOPED_TRACE(preset);
    const fs::path out = tmp.path() / preset;
    test::quantize_to(HQQ_TEST_DEMO_MODEL_DIR, out, preset);
    for (const char* dtype : {"float32", "bfloat16"}) {
      SCOPED_TRACE(dtype);
      LlamaModel m = load(out, dtype);
      ASSERT_TRUE(m.can_decode());
      const Gap g = decode_gap(m, some_tokens(m.config().vocab_size, 16), 4);
      EXPECT_LT(g.max_abs, 0.03 * g.ref_max);
      EXPECT_GT(g.ref_max, 1.0);
    }
  }
}

// generate() takes the fused step when it can. Dense fp32: the same greedy tokens as the
// reference path. Quantized: the VNNI kernels round activations to int8, so a last-bit
// difference upstream can flip a rounding and the two paths may part at a near-tie; every token
// the fused path picks must still be the reference's argmax within the kernels' error budget
// (the teacher-forced reference logit of the chosen token ≥ its best logit − 0.5, against
// top-2 margins of 0.2 to 4 on this model).
TEST(Decode, GreedyGenerationFollowsTheReferencePath) {
  test::TempDir tmp;
  for (const char* preset : {"", "4bit-g64", "8bit-g128"}) {
    SCOPED_TRACE(preset);
    fs::path dir = HQQ_TEST_DEMO_MODEL_DIR;
    if (*preset) test::quantize_to(dir, tmp.path() / preset, preset), dir = tmp.path() / preset;
    LoadedModel lm = load_model(dir, {.dtype = "float32"});
    GenerateOptions o;
    o.max_new_tokens = 40;
    o.stop_token_ids = {-1};
    const std::vector<int64_t> prompt = lm.require_tokenizer().encode("The king said", true);
    DecodeProfile profile;
    o.profile = &profile;
    GenerateResult fast = generate(lm.model, lm.require_tokenizer(), prompt, o);
    EXPECT_EQ(profile.tokens, 39);  // every step after the prefill was profiled
    EXPECT_GT(profile.seconds[DecodeProfile::Projections], 0);
    EXPECT_GT(profile.seconds[DecodeProfile::LmHead], 0);
    if (!*preset) {
      o.reference_decode = true;
      o.profile = nullptr;
      EXPECT_EQ(fast.tokens, generate(lm.model, lm.require_tokenizer(), prompt, o).tokens);
      continue;
    }
    std::vector<int64_t> seq = prompt;
    seq.insert(seq.end(), fast.tokens.begin(), fast.tokens.end());
    at::Tensor ref = lm.model.forward(at::tensor(seq, at::kLong).unsqueeze(0))[0];
    for (size_t i = 0; i < fast.tokens.size(); ++i) {
      at::Tensor row = ref[static_cast<int64_t>(prompt.size() + i - 1)];
      EXPECT_GE(row[fast.tokens[i]].item<double>(), row.max().item<double>() - 0.5) << i;
    }
  }
}

// Every compiled variant of the decode loops against ATen on odd sizes (remainders included).
TEST(DecodeKernels, VariantsMatchATen) {
  at::manual_seed(3);
  for (const kernels::DecodeOps* ops : kernels::decode_ops_variants()) {
    SCOPED_TRACE(ops->isa);
    const int64_t out = 37, in = 75;
    at::Tensor w = at::randn({out, in}), x = at::randn({in});
    at::Tensor wb = w.to(at::kBFloat16);
    at::Tensor y = at::zeros({out});
    ops->gemv_bf16(reinterpret_cast<const uint16_t*>(wb.data_ptr<at::BFloat16>()), in, in,
                   x.data_ptr<float>(), y.data_ptr<float>(), 3, out);
    at::Tensor ref = at::matmul(wb.to(at::kFloat), x);
    EXPECT_TRUE(at::allclose(y.narrow(0, 3, out - 3), ref.narrow(0, 3, out - 3), 1e-4, 1e-4));
    EXPECT_EQ(y[0].item<float>(), 0.0f);  // rows outside the range untouched
    ops->gemv_f32(w.data_ptr<float>(), in, in, x.data_ptr<float>(), y.data_ptr<float>(), 0, out);
    EXPECT_TRUE(at::allclose(y, at::matmul(w, x), 1e-4, 1e-4));

    at::Tensor nw = at::randn({in}), xn = at::empty({in});
    ops->rms_norm(x.data_ptr<float>(), in, nw.data_ptr<float>(), 1e-5f, false,
                  xn.data_ptr<float>());
    EXPECT_TRUE(at::allclose(xn, x * at::rsqrt(x.pow(2).mean() + 1e-5) * nw, 1e-5, 1e-5));
    ops->rms_norm(x.data_ptr<float>(), in, nw.data_ptr<float>(), 1e-5f, true, xn.data_ptr<float>());
    EXPECT_TRUE(at::allclose(xn, x * at::rsqrt(x.pow(2).mean() + 1e-5) * (1 + nw), 1e-5, 1e-5));

    at::Tensor g = at::randn({in}) * 4, u = at::randn({in}), gs = g.clone(), gg = g.clone();
    ops->glu(gs.data_ptr<float>(), u.data_ptr<float>(), in, false);
    EXPECT_TRUE(at::allclose(gs, at::silu(g) * u, 1e-5, 1e-5));
    ops->glu(gg.data_ptr<float>(), u.data_ptr<float>(), in, true);
    EXPECT_TRUE(at::allclose(gg, at::gelu(g, "tanh") * u, 1e-5, 1e-5));

    const int64_t d = 8;
    at::Tensor r = at::randn({3, d}), cs = at::randn({d / 2}), sn = at::randn({d / 2});
    at::Tensor rr = r.clone();
    ops->rope(rr.data_ptr<float>(), 3, d, cs.data_ptr<float>(), sn.data_ptr<float>());
    at::Tensor cos2 = at::cat({cs, cs}), sin2 = at::cat({sn, sn});
    at::Tensor rot = at::cat({-r.narrow(1, d / 2, d / 2), r.narrow(1, 0, d / 2)}, 1);
    EXPECT_TRUE(at::allclose(rr, r * cos2 + rot * sin2, 1e-5, 1e-5));

    const int64_t S = 21;
    at::Tensor q = at::randn({d}), k = at::randn({S, d}), v = at::randn({S, d});
    std::vector<float> scratch(S);
    for (float cap : {0.0f, 2.0f}) {
      at::Tensor o = at::empty({d});
      ops->attend_f32(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), 4, S, d, 0.3f,
                      cap, scratch.data(), o.data_ptr<float>());
      at::Tensor s = at::matmul(k.narrow(0, 4, S - 4), q) * 0.3;
      if (cap > 0) s = at::tanh(s / cap) * cap;
      EXPECT_TRUE(
          at::allclose(o, at::matmul(at::softmax(s, 0), v.narrow(0, 4, S - 4)), 1e-5, 1e-5));
      at::Tensor kb = k.to(at::kBFloat16), vb = v.to(at::kBFloat16);
      ops->attend_bf16(q.data_ptr<float>(),
                       reinterpret_cast<const uint16_t*>(kb.data_ptr<at::BFloat16>()),
                       reinterpret_cast<const uint16_t*>(vb.data_ptr<at::BFloat16>()), 0, S, d,
                       0.3f, cap, scratch.data(), o.data_ptr<float>());
      s = at::matmul(kb.to(at::kFloat), q) * 0.3;
      if (cap > 0) s = at::tanh(s / cap) * cap;
      EXPECT_TRUE(at::allclose(o, at::matmul(at::softmax(s, 0), vb.to(at::kFloat)), 1e-5, 1e-5));
    }
  }
}

}  // namespace
}  // namespace hqq
