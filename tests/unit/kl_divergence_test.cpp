// KL divergence to a reference model (hqq ppl --reference) and the saved reference file.
#include <gtest/gtest.h>

#include <fstream>

#include "core/base/error.h"
#include "core/generate/kl_divergence.h"
#include "core/generate/kl_reference_file.h"
#include "core/load/model_loader.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path fixture() {
  return test::fixtures() / "models" / "llama_chat_tok1000";
}

std::vector<int64_t> moby_tokens(const Tokenizer& tok, size_t bytes) {
  std::string text =
      test::read_file(test::shared_data() / "corpora" / "moby-dick" / "moby-dick.txt");
  return tok.encode(text.substr(0, bytes), true);
}

PerplexityOptions llamacpp_opts(int64_t ctx, const Tokenizer& tok) {
  PerplexityOptions o;
  o.ctx = ctx;
  o.method = PplMethod::LlamaCpp;
  o.bos_id = tok.bos_id();
  o.batch = 2;
  return o;
}

TEST(KlDivergence, AModelAgainstItselfIsZeroAndAgreesEverywhere) {
  LoadedModel m = load_model(fixture(), {.dtype = "float32"});
  auto tokens = moby_tokens(*m.tokenizer, 6000);
  for (PplMethod method : {PplMethod::Standard, PplMethod::LlamaCpp}) {
    PerplexityOptions o = llamacpp_opts(48, *m.tokenizer);
    o.method = method;
    LiveReference ref(m.model, first_scored_position(o));
    PerplexityWithKl r = perplexity_with_reference(m.model, tokens, o, ref);
    EXPECT_EQ(r.kl.tokens, r.ppl.tokens_scored);
    EXPECT_EQ(r.kl.mean_kl, 0.0);
    EXPECT_EQ(r.kl.kl_p99, 0.0);
    EXPECT_EQ(r.kl.top1, 1.0);
    EXPECT_DOUBLE_EQ(r.kl.ppl_ratio, 1.0);
    EXPECT_NEAR(r.kl.ppl, r.ppl.ppl, 1e-9 * r.ppl.ppl);
    ASSERT_EQ(static_cast<int64_t>(r.kl.windows.size()), r.ppl.windows);
  }
}

// The KL of a 2-bit model to its original, recomputed here with plain torch ops on both
// models' logits over the same llama.cpp-style windows.
TEST(KlDivergence, EqualsADirectComputationOnTheLogits) {
  test::TempDir tmp;
  test::quantize_to(fixture(), tmp / "q", "2bit-g32");
  LoadedModel full = load_model(fixture(), {.dtype = "float32"});
  LoadedModel q = load_model(tmp / "q", {.dtype = "float32"});
  auto tokens = moby_tokens(*full.tokenizer, 6000);
  const int64_t ctx = 64, first = ctx / 2;
  PerplexityOptions o = llamacpp_opts(ctx, *full.tokenizer);
  LiveReference ref(full.model, first_scored_position(o));
  PerplexityWithKl r = perplexity_with_reference(q.model, tokens, o, ref);

  at::NoGradGuard no_grad;
  const int64_t windows = static_cast<int64_t>(tokens.size()) / ctx;
  std::vector<at::Tensor> kls, same;
  double nll = 0, nll_ref = 0;
  for (int64_t w = 0; w < windows; ++w) {
    at::Tensor x =
        at::tensor(std::vector<int64_t>(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx))
            .unsqueeze(0);
    x[0][0] = *full.tokenizer->bos_id();
    at::Tensor p =
        at::softmax(full.model.forward(x)[0].to(at::kDouble), -1).slice(0, first, ctx - 1);
    at::Tensor qq = at::softmax(q.model.forward(x)[0].to(at::kDouble), -1).slice(0, first, ctx - 1);
    kls.push_back((p * (p.log() - qq.log())).sum(-1));
    same.push_back(p.argmax(-1) == qq.argmax(-1));
    at::Tensor tgt = x[0].slice(0, first + 1, ctx).unsqueeze(1);
    nll -= qq.gather(1, tgt).log().sum().item<double>();
    nll_ref -= p.gather(1, tgt).log().sum().item<double>();
  }
  at::Tensor kl = at::cat(kls);
  const double n = static_cast<double>(kl.numel());
  ASSERT_EQ(r.kl.tokens, kl.numel());
  EXPECT_GT(r.kl.mean_kl, 1e-3);  // a 2-bit model is measurably off
  EXPECT_NEAR(r.kl.mean_kl, kl.mean().item<double>(), 1e-5 * r.kl.mean_kl + 1e-9);
  EXPECT_NEAR(r.kl.kl_p99, at::quantile(kl, 0.99).item<double>(), 1e-4 * r.kl.kl_p99);
  EXPECT_NEAR(r.kl.top1, at::cat(same).to(at::kDouble).mean().item<double>(), 1e-12);
  EXPECT_NEAR(r.kl.ppl_ratio, std::exp((nll - nll_ref) / n), 1e-5);
  EXPECT_NEAR(r.kl.windows[1].kl, kls[1].mean().item<double>(), 1e-4 * r.kl.windows[1].kl);
}

TEST(KlDivergence, LogProbRowsRoundTripWithinHalfAStep) {
  at::Tensor logp = at::log_softmax(at::randn({5, 1000}) * 4, -1);
  EncodedRows e = encode_logprob_rows(logp);
  EXPECT_EQ(e.codes.scalar_type(), at::kShort);
  at::Tensor back = decode_logprob_rows(e);
  at::Tensor err = (back - logp).abs();
  EXPECT_LE(err.max().item<float>(), e.step.max().item<float>() * 0.5f + 1e-5f);
  EXPECT_LT(e.step.max().item<float>(), 7e-4f);
}

// The guard is in core, not only in the CLI: any caller of save_reference is kept off the
// model's folder, the text and an existing file.
TEST(KlDivergence, SaveReferenceRefusesSourcesFoldersAndExistingFiles) {
  test::TempDir tmp;
  fs::copy(fixture(), tmp / "model", fs::copy_options::recursive);
  LoadedModel full = load_model(tmp / "model", {.dtype = "float32"});
  auto tokens = moby_tokens(*full.tokenizer, 600);
  PerplexityOptions o = llamacpp_opts(64, *full.tokenizer);
  const fs::path text = tmp / "text.txt", existing = tmp / "old.safetensors";
  { std::ofstream(text) << "text"; }
  { std::ofstream(existing) << "keep me"; }
  fs::create_directory(tmp / "sub");
  const fs::path weights = tmp / "model" / "model.safetensors";
  const std::string weights_before = test::read_file(weights);
  const std::vector<fs::path> sources = {tmp / "model", text};
  auto refused = [&](const OutputFile& out, const std::string& why) {
    try {
      save_reference(full.model, tokens, o, out);
      ADD_FAILURE() << "accepted " << out.path;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(out.path.filename().string()), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused(OutputFile{weights, true, sources}, "inside the input");
  refused(OutputFile{text, true, sources}, "is the input");
  refused(OutputFile{tmp.path(), true, sources}, "contains the input");
  refused(OutputFile{tmp / "model" / "ref.safetensors", false, sources}, "inside the input");
  refused(OutputFile{existing, false, sources}, "already exists");
  refused(OutputFile{tmp / "sub", true, sources}, "is a folder");
  EXPECT_EQ(test::read_file(weights), weights_before);
  EXPECT_EQ(test::read_file(existing), "keep me");
  save_reference(full.model, tokens, o, {existing, true, sources});
  EXPECT_NE(test::read_file(existing), "keep me");
}

TEST(KlDivergence, ASavedReferenceGivesTheLiveFiguresAndIsChecked) {
  test::TempDir tmp;
  test::quantize_to(fixture(), tmp / "q", "2bit-g32");
  LoadedModel full = load_model(fixture(), {.dtype = "float32"});
  LoadedModel q = load_model(tmp / "q", {.dtype = "float32"});
  auto tokens = moby_tokens(*full.tokenizer, 6000);
  PerplexityOptions o = llamacpp_opts(64, *full.tokenizer);
  const fs::path file = tmp / "ref.safetensors";
  PerplexityResult saved = save_reference(full.model, tokens, o, {file});
  EXPECT_GT(saved.ppl, 1.0);
  ASSERT_TRUE(fs::exists(file));

  LiveReference live(full.model, first_scored_position(o));
  PerplexityWithKl a = perplexity_with_reference(q.model, tokens, o, live);
  auto from_file = ReferenceFile::open(file, reference_key(tokens, o, 1000));
  PerplexityWithKl b = perplexity_with_reference(q.model, tokens, o, *from_file);
  EXPECT_NEAR(b.kl.mean_kl, a.kl.mean_kl, 1e-3 * a.kl.mean_kl);
  EXPECT_NEAR(b.kl.kl_p99, a.kl.kl_p99, 2e-3 * a.kl.kl_p99);
  EXPECT_NEAR(b.kl.top1, a.kl.top1, 2.0 / static_cast<double>(a.kl.tokens));
  EXPECT_NEAR(b.kl.ppl_ratio, a.kl.ppl_ratio, 1e-4);
  EXPECT_NEAR(b.kl.ppl_reference, saved.ppl, 1e-3 * saved.ppl);

  auto refused = [&](const ReferenceKey& k, const std::string& what) {
    try {
      ReferenceFile::open(file, k);
      ADD_FAILURE() << "accepted " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("ref.safetensors"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  PerplexityOptions other_ctx = o;
  other_ctx.ctx = 32;
  refused(reference_key(tokens, other_ctx, 1000), "ctx");
  PerplexityOptions other_method = o;
  other_method.method = PplMethod::Standard;
  refused(reference_key(tokens, other_method, 1000), "method");
  refused(reference_key(tokens, o, 1001), "vocabulary");
  auto other_text = tokens;
  other_text[5] += 1;
  refused(reference_key(other_text, o, 1000), "another text");
  test::write_file(tmp / "plain.safetensors", test::read_file(fixture() / "model.safetensors"));
  EXPECT_THROW(ReferenceFile::open(tmp / "plain.safetensors", reference_key(tokens, o, 1000)),
               InputError);
}

}  // namespace
}  // namespace hqq
