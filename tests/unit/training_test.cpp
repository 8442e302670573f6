#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/quantize_model.h"
#include "core/train/trainer.h"
#include "core/train/training_data.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path fixture() {
  return test::fixtures() / "models" / "llama_chat_tok1000";
}

std::string corpus_text(size_t bytes) {
  return test::read_file(test::shared_data() / "corpora" / "kjv" / "kjv.txt").substr(0, bytes);
}

TEST(Trainer, LearningRateSchedules) {
  TrainOptions o;
  o.lr = 1.0;
  o.steps = 110;
  o.warmup_steps = 10;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 9), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10), 1.0);
  EXPECT_NEAR(learning_rate(o, 60), 0.55, 1e-12);  // halfway down the cosine
  EXPECT_NEAR(learning_rate(o, 110), 0.1, 1e-12);
  o.schedule = "linear";
  EXPECT_NEAR(learning_rate(o, 60), 0.55, 1e-12);
  o.schedule = "constant";
  EXPECT_DOUBLE_EQ(learning_rate(o, 100), 1.0);
  o.schedule = "weird";
  EXPECT_THROW(learning_rate(o, 50), InputError);
}

struct TrainingFixture {
  test::TempDir tmp;
  LoadedModel m = load_model(fixture(), {.dtype = "float32"});
  TokenWindows data;
  TrainingFixture() {
    test::write_file(tmp / "train.txt", corpus_text(20000));
    data = load_training_data({tmp / "train.txt"}, *m.tokenizer, 32);
  }
};

TEST(Trainer, FullParameterTrainingLowersTheLoss) {
  TrainingFixture s;
  auto params = make_trainable(s.m.model.named_parameters());
  s.m.model.retie_embeddings();
  TrainOptions o;
  o.steps = 40;
  o.batch_size = 4;
  o.lr = 3e-3;
  o.warmup_steps = 5;
  o.eval_every = 0;
  Trainer t(s.m.model, params, o, s.data);
  std::vector<double> losses;
  t.run([&](const TrainEvent& e) { losses.push_back(e.loss); });
  ASSERT_EQ(losses.size(), 40u);
  double first = (losses[0] + losses[1] + losses[2]) / 3,
         last = (losses[37] + losses[38] + losses[39]) / 3;
  EXPECT_LT(last, first - 1.0) << "from " << first << " to " << last;
}

TEST(Trainer, ResumeContinuesExactly) {
  TrainOptions o;
  o.steps = 6;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.warmup_steps = 2;
  o.eval_every = 0;
  TrainingFixture a;
  auto pa = make_trainable(a.m.model.named_parameters());
  a.m.model.retie_embeddings();
  Trainer ta(a.m.model, pa, o, a.data);
  ta.run({});
  // The same run cancelled after step 3, its optimizer state saved, then finished by a fresh
  // trainer that loads it: the parameters must end where the uninterrupted run's did.
  TrainingFixture c;
  auto pc = make_trainable(c.m.model.named_parameters());
  c.m.model.retie_embeddings();
  {
    Trainer first(c.m.model, pc, o, c.data);
    CancelToken stop;
    EXPECT_THROW(first.run(
                     [&](const TrainEvent& e) {
                       if (e.step == 3) stop.cancel();
                     },
                     {.cancel = &stop}),
                 Cancelled);
    first.save_state(c.tmp / "ckpt");
  }
  Trainer second(c.m.model, pc, o, c.data);
  second.load_state(c.tmp / "ckpt");
  EXPECT_EQ(second.step(), 3);
  second.run({});
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(at::allclose(*pa[i].second, *pc[i].second, 1e-6, 1e-7)) << pa[i].first;
}

TEST(Trainer, LoraOnAQuantizedModelTrainsOnlyTheAdapter) {
  test::TempDir tmp;
  test::quantize_to(fixture(), tmp / "q", "2bit-g32");
  LoadedModel m = load_model(tmp / "q", {.dtype = "float32"});
  test::write_file(tmp / "train.txt", corpus_text(20000));
  TokenWindows data = load_training_data({tmp / "train.txt"}, *m.tokenizer, 32);
  auto* q0 = dynamic_cast<HqqLinear*>(m.model.linear_slots()[0].slot->get());
  ASSERT_NE(q0, nullptr);
  at::Tensor packed_before = q0->packed().clone();
  at::Tensor embed_before = m.model.named_parameters()[0].second->clone();
  LoraConfig cfg;
  cfg.r = 4;
  apply_lora(m.model, cfg);
  m.model.set_gradient_checkpointing(true);  // also covers checkpointing with a frozen embedding
  std::vector<std::pair<std::string, at::Tensor*>> params;
  for (auto& [name, l] : lora_layers(m.model))
    for (auto& [p, t] : l->parameters()) params.push_back({name + "." + p, t});
  params = make_trainable(params);
  TrainOptions o;
  o.steps = 25;
  o.batch_size = 4;
  o.lr = 5e-3;
  o.warmup_steps = 2;
  o.eval_every = 0;
  Trainer t(m.model, params, o, data);
  std::vector<double> losses;
  t.run([&](const TrainEvent& e) { losses.push_back(e.loss); });
  EXPECT_LT(losses.back(), losses.front());
  auto* q0_after = dynamic_cast<const HqqLinear*>(
      &dynamic_cast<LoraLinear*>(m.model.linear_slots()[0].slot->get())->base());
  ASSERT_NE(q0_after, nullptr);
  EXPECT_TRUE(at::equal(q0_after->packed(), packed_before));
  EXPECT_TRUE(at::equal(*m.model.named_parameters()[0].second, embed_before));
  EXPECT_FALSE(m.model.named_parameters()[0].second->requires_grad());
}

TEST(TrainingData, ClearErrors) {
  test::TempDir tmp;
  Tokenizer tok = Tokenizer::load(fixture());
  test::write_file(tmp / "bad.jsonl", "{\"text\": \"fine\"}\n\n{\"text\": 3}\n");
  try {
    load_training_data({tmp / "bad.jsonl"}, tok, 8);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:3"), std::string::npos) << e.what();
  }
  test::write_file(tmp / "broken.jsonl", "{\"text\": \"a\"}\n{not json\n");
  try {
    load_training_data({tmp / "broken.jsonl"}, tok, 8);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jsonl:2"), std::string::npos) << e.what();
  }
  test::write_file(tmp / "empty.jsonl", "\n\n");
  EXPECT_THROW(load_training_data({tmp / "empty.jsonl"}, tok, 8), InputError);
  test::write_file(tmp / "short.txt", "Too short.");
  try {
    load_training_data({tmp / "short.txt"}, tok, 64);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than one window"), std::string::npos) << e.what();
  }
}

TEST(TrainingData, ChatLossOnlyOnAssistantTokens) {
  test::TempDir tmp;
  Tokenizer tok = Tokenizer::load(fixture());
  test::write_file(
      tmp / "chat.jsonl",
      R"({"messages": [{"role": "user", "content": "Who made heaven?"}, {"role": "assistant", "content": "God created the heaven and the earth."}]})"
      "\n");
  TokenWindows d = load_training_data({tmp / "chat.jsonl"}, tok, 64);
  ASSERT_EQ(d.sequences.size(), 1u);
  std::mt19937_64 rng(0);
  auto [x, y] = d.batch(1, rng);
  std::vector<int64_t> learned;
  for (int64_t i = 0; i < y.size(1); ++i)
    if (y[0][i].item<int64_t>() != -100) learned.push_back(y[0][i].item<int64_t>());
  std::string text = tok.decode(learned);
  EXPECT_NE(text.find("God created the heaven and the earth."), std::string::npos) << text;
  EXPECT_EQ(text.find("Who made"), std::string::npos) << text;
}

}  // namespace
}  // namespace hqq

namespace hqq {
namespace {

TEST(Trainer, GradientCheckpointingGivesTheSameGradients) {
  std::array<std::vector<at::Tensor>, 2> grads;
  for (int on = 0; on < 2; ++on) {
    LoadedModel m = load_model(fixture(), {.dtype = "float32"});
    auto params = make_trainable(m.model.named_parameters());
    m.model.retie_embeddings();
    m.model.set_gradient_checkpointing(on == 1);
    at::Tensor x = at::arange(40, at::kLong).reshape({2, 20});
    at::Tensor logits = m.model.forward(x);
    at::cross_entropy_loss(logits.view({-1, logits.size(-1)}), (x + 1).remainder(1000).view({-1}))
        .backward();
    for (auto& [name, t] : params) grads[on].push_back(t->grad().clone());
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_TRUE(at::allclose(grads[0][i], grads[1][i], 1e-5, 1e-6)) << i;
}

}  // namespace
}  // namespace hqq
