#include <gtest/gtest.h>

#include <cmath>

#include "core/base/error.h"
#include "core/generate/generate.h"
#include "core/generate/perplexity.h"
#include "core/generate/sampler.h"
#include "core/io/checkpoint.h"
#include "core/model/llama_model.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

LlamaModel fixture_model() {
  auto dir = test::fixtures() / "models" / "llama_gqa_fp32";
  return LlamaModel::load(Checkpoint::open(dir), load_model_config(dir));
}

Tokenizer fixture_tokenizer() {
  return Tokenizer::from_model_file(test::fixtures() / "tokenizer" / "bpe1000.model");
}

TEST(Sampler, GreedyAndPenalty) {
  std::vector<float> logits = {0.1f, 2.0f, 1.5f, -1.0f};
  Sampler greedy({});
  EXPECT_EQ(greedy.sample(logits.data(), 4, {}), 1);
  SamplingParams p;
  p.repetition_penalty = 2.0f;  // 2.0 -> 1.0 once seen, so 1.5 wins
  Sampler penalised(p);
  EXPECT_EQ(penalised.sample(logits.data(), 4, {1}), 2);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  std::vector<float> logits = {0.3f, 0.1f, 0.9f, 0.8f};
  SamplingParams k;
  k.temperature = 5.0f;
  k.top_k = 1;
  SamplingParams pp;
  pp.temperature = 5.0f;
  pp.top_p = 0.01f;
  Sampler a(k), b(pp);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(a.sample(logits.data(), 4, {}), 2);
    EXPECT_EQ(b.sample(logits.data(), 4, {}), 2);
  }
}

TEST(Sampler, FollowsTheSoftmaxAndIsReproducible) {
  std::vector<float> logits = {0.0f, std::log(3.0f)};  // probabilities 1/4, 3/4
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler s(p), again(p);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int64_t t = s.sample(logits.data(), 2, {});
    EXPECT_EQ(t, again.sample(logits.data(), 2, {}));
    ones += t == 1;
  }
  EXPECT_NEAR(ones / double(n), 0.75, 0.015);
}

TEST(Sampler, RejectsBadParameters) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler{p}, InputError);
  p = {};
  p.temperature = -1.0f;
  EXPECT_THROW(Sampler{p}, InputError);
}

// Greedy decoding through the KV cache must pick the same tokens as recomputing the whole
// sequence without a cache at every step.
TEST(Generate, GreedyMatchesUncachedArgmaxRollout) {
  LlamaModel model = fixture_model();
  Tokenizer tok = fixture_tokenizer();
  std::vector<int64_t> prompt = {1, 17, 99, 3, 250};
  GenerateOptions opts;
  opts.max_new_tokens = 10;
  opts.stop_token_ids = {-1};  // never stop early
  GenerateResult r = generate(model, tok, prompt, opts);
  std::vector<int64_t> seq = prompt;
  for (int i = 0; i < 10; ++i) {
    at::Tensor logits = model.forward(at::tensor(seq, at::kLong).unsqueeze(0));
    seq.push_back(logits[0][-1].argmax().item<int64_t>());
  }
  EXPECT_EQ(r.tokens, std::vector<int64_t>(seq.begin() + 5, seq.end()));
  EXPECT_EQ(r.stop_reason, StopReason::Length);
  EXPECT_EQ(r.prompt_tokens, 5);
}

TEST(Generate, StopsOnEosStreamsTextAndHonoursCancel) {
  LlamaModel model = fixture_model();
  Tokenizer tok = fixture_tokenizer();
  std::vector<int64_t> prompt = {1, 40, 41};
  GenerateOptions opts;
  opts.max_new_tokens = 8;
  opts.stop_token_ids = {-1};
  GenerateResult free_run = generate(model, tok, prompt, opts);
  ASSERT_EQ(free_run.tokens.size(), 8u);
  // Declare the third generated token an end-of-sequence token: generation must stop there.
  opts.stop_token_ids = {free_run.tokens[2]};
  std::string streamed;
  GenerateResult r = generate(model, tok, prompt, opts, [&](std::string_view s) { streamed += s; });
  EXPECT_EQ(r.stop_reason, StopReason::Eos);
  EXPECT_EQ(r.tokens.size(),
            std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[2]) -
                free_run.tokens.begin() + 1);
  EXPECT_EQ(streamed, r.text);
  CancelToken cancel;
  cancel.cancel();
  opts.stop_token_ids = {-1};
  EXPECT_EQ(generate(model, tok, prompt, opts, {}, {.cancel = &cancel}).stop_reason,
            StopReason::Cancelled);
}

TEST(Generate, StopStringCutsTheText) {
  LlamaModel model = fixture_model();
  Tokenizer tok = fixture_tokenizer();
  GenerateOptions opts;
  opts.max_new_tokens = 12;
  opts.stop_token_ids = {-1};
  GenerateResult full = generate(model, tok, {1, 60, 61}, opts);
  ASSERT_GE(full.text.size(), 4u);
  std::string stop = full.text.substr(full.text.size() / 2, 2);
  size_t cut = full.text.find(stop);
  opts.stop_strings = {stop};
  std::string streamed;
  GenerateResult r =
      generate(model, tok, {1, 60, 61}, opts, [&](std::string_view s) { streamed += s; });
  EXPECT_EQ(r.stop_reason, StopReason::StopString);
  EXPECT_EQ(r.text, full.text.substr(0, cut));
  EXPECT_EQ(streamed, r.text);
}

TEST(Generate, ReusedStateGivesTheSameReply) {
  LlamaModel model = fixture_model();
  Tokenizer tok = fixture_tokenizer();
  GenerateOptions opts;
  opts.max_new_tokens = 6;
  opts.stop_token_ids = {-1};
  std::vector<int64_t> turn1 = {1, 10, 11, 12};
  DecodeState state{model.make_cache(1, 64), {}};
  GenerateResult a = generate(model, tok, turn1, opts, {}, {}, &state);
  EXPECT_EQ(state.cache.length(), static_cast<int64_t>(state.tokens.size()));
  std::vector<int64_t> turn2 = turn1;
  turn2.insert(turn2.end(), a.tokens.begin(), a.tokens.end());
  turn2.insert(turn2.end(), {20, 21});
  GenerateResult cached = generate(model, tok, turn2, opts, {}, {}, &state);
  GenerateResult fresh = generate(model, tok, turn2, opts);
  EXPECT_EQ(cached.tokens, fresh.tokens);
}

TEST(Perplexity, UniformModelScoresTheVocabularySize) {
  LlamaModel model = fixture_model();
  *model.linear_slots().back().slot = std::make_unique<DenseLinear>(at::zeros({256, 64}));
  std::vector<int64_t> tokens(100);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int64_t>((i * 37) % 256);
  PerplexityOptions opts;
  opts.ctx = 16;
  PerplexityResult r = perplexity(model, tokens, opts);
  EXPECT_NEAR(r.ppl, 256.0, 1e-3);
  EXPECT_EQ(r.windows, 6);  // 100 / 16, the trailing 4 tokens dropped
  EXPECT_EQ(r.tokens_scored, 6 * 15);
}

TEST(Perplexity, MatchesAManualComputation) {
  LlamaModel model = fixture_model();
  std::vector<int64_t> tokens(40);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int64_t>((i * 53 + 7) % 256);
  for (PplMethod method : {PplMethod::Standard, PplMethod::LlamaCpp}) {
    PerplexityOptions opts;
    opts.ctx = 12;
    opts.method = method;
    opts.bos_id = 1;
    opts.batch = 2;
    PerplexityResult r = perplexity(model, tokens, opts);
    double nll = 0;
    int64_t n = 0;
    for (int w = 0; w < 3; ++w) {
      std::vector<int64_t> win(tokens.begin() + w * 12, tokens.begin() + (w + 1) * 12);
      if (method == PplMethod::LlamaCpp) win[0] = 1;
      at::Tensor logp =
          at::log_softmax(model.forward(at::tensor(win, at::kLong).unsqueeze(0))[0], -1);
      for (int i = method == PplMethod::LlamaCpp ? 6 : 0; i < 11; ++i, ++n)
        nll -= logp[i][win[i + 1]].item<double>();
    }
    EXPECT_EQ(r.tokens_scored, n);
    EXPECT_NEAR(r.mean_nll, nll / n, 1e-5);
    EXPECT_NEAR(r.ppl, std::exp(nll / n), 1e-3);
  }
}

TEST(Perplexity, TooShortAndCancelled) {
  LlamaModel model = fixture_model();
  PerplexityOptions opts;
  opts.ctx = 32;
  EXPECT_THROW(perplexity(model, std::vector<int64_t>(20, 5), opts), InputError);
  CancelToken cancel;
  cancel.cancel();
  EXPECT_THROW(perplexity(model, std::vector<int64_t>(64, 5), opts, {.cancel = &cancel}),
               Cancelled);
  opts.ctx = 1000;
  EXPECT_THROW(perplexity(model, std::vector<int64_t>(2000, 5), opts),
               InputError);  // beyond max positions
}

}  // namespace
}  // namespace hqq
