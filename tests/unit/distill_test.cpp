// Distillation for HQQ+: the adapter learns the full-precision model's distribution.
#include <gtest/gtest.h>

#include "core/generate/kl_divergence.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "core/train/distill.h"
#include "core/train/trainer.h"
#include "core/train/training_data.h"
#include "tests/test_support.h"
#include "tests/unit/quantize_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path demo() {
  return HQQ_TEST_DEMO_MODEL_DIR;
}

std::string corpus(const char* name, const char* file, size_t from, size_t bytes) {
  return test::read_file(test::shared_data() / "corpora" / name / file).substr(from, bytes);
}

std::vector<std::pair<std::string, at::Tensor*>> lora_params(LlamaModel& m, int64_t rank) {
  LoraConfig cfg;
  cfg.r = rank;
  cfg.alpha = static_cast<double>(rank);
  cfg.dropout = 0;
  apply_lora(m, cfg);
  std::vector<std::pair<std::string, at::Tensor*>> params;
  for (auto& [name, l] : lora_layers(m))
    for (auto& [p, t] : l->parameters()) params.push_back({name + "." + p, t});
  auto out = make_trainable(params);
  set_lora_training(m, true);
  return out;
}

TEST(Distill, TopKWithTheWholeVocabularyIsTheFullKlAndLessIsALowerBound) {
  at::manual_seed(1);
  at::Tensor s = at::randn({2, 5, 50}) * 2, t = at::randn({2, 5, 50}) * 2;
  at::Tensor mask = at::ones({2, 5}, at::kBool);
  mask[1][4] = false;
  at::Tensor lt = at::log_softmax(t.to(at::kDouble), -1),
             ls = at::log_softmax(s.to(at::kDouble), -1);
  at::Tensor direct = (lt.exp() * (lt - ls)).sum(-1);
  const double want = (direct.sum() - direct[1][4]).item<double>() / 9.0;
  EXPECT_NEAR(distill_kl(s, t, mask).item<double>(), want, 1e-5);
  EXPECT_NEAR(distill_kl(s, t, mask, 50).item<double>(), want, 1e-5);
  const double top10 = distill_kl(s, t, mask, 10).item<double>();
  EXPECT_LT(top10, want);
  EXPECT_GT(top10, 0.0);
}

struct DistillFixture {
  test::TempDir tmp;
  LoadedModel teacher = load_model(demo(), {.dtype = "float32"});
  std::optional<LoadedModel> student;
  TokenWindows data;
  std::vector<int64_t> held_out;
  DistillFixture(const char* preset) {
    test::quantize_to(demo(), tmp / "q", preset);
    student.emplace(load_model(tmp / "q", {.dtype = "float32"}));
    test::write_file(tmp / "train.txt", corpus("kjv", "kjv.txt", 0, 60000));
    data = load_training_data({tmp / "train.txt"}, *teacher.tokenizer, 64);
    std::string moby =
        test::read_file(test::shared_data() / "corpora" / "moby-dick" / "moby-dick.txt");
    held_out = teacher.tokenizer->encode(moby.substr(moby.size() - 12000), true);
  }
  double held_out_kl() {
    PerplexityOptions o;
    o.ctx = 64;
    o.batch = 4;
    LiveReference ref(teacher.model, 0);
    return perplexity_with_reference(student->model, held_out, o, ref).kl.mean_kl;
  }
};

TEST(Distill, WithWeightOneTheLossIsTheKlToTheTeacher) {
  DistillFixture f("2bit-g32");
  auto params = lora_params(f.student->model, 4);
  TrainOptions o;
  o.steps = 1;
  o.batch_size = 2;
  o.eval_every = 0;
  o.distill_weight = 1.0;
  // The first step's batch, drawn as the trainer draws it, and the KL computed here directly:
  // the LoRA B matrices start at zero, so the student is the quantized model itself.
  std::mt19937_64 rng(o.seed * 1000003ull);
  auto [x, y] = f.data.batch(o.batch_size, rng);
  double want = 0;
  {
    at::NoGradGuard g;
    at::Tensor lt = at::log_softmax(f.teacher.model.forward(x).to(at::kDouble), -1);
    at::Tensor ls = at::log_softmax(f.student->model.forward(x).to(at::kDouble), -1);
    at::Tensor per = (lt.exp() * (lt - ls)).sum(-1);
    at::Tensor m = (y != -100).to(at::kDouble);
    want = ((per * m).sum() / m.sum()).item<double>();
  }
  Trainer t(f.student->model, params, o, f.data);
  t.set_teacher(&f.teacher.model, 123);
  std::vector<TrainEvent> ev;
  t.run([&](const TrainEvent& e) { ev.push_back(e); });
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_GT(want, 0.01);
  EXPECT_NEAR(ev[0].loss, want, 1e-4 * want);
  ASSERT_TRUE(ev[0].distill_kl && ev[0].ce_loss);
  EXPECT_NEAR(*ev[0].distill_kl, want, 1e-4 * want);
  EXPECT_GT(*ev[0].ce_loss, 1.0);  // cross-entropy on the text, not learned at weight 1
  EXPECT_GT(ev[0].teacher_seconds, 0.0);
  EXPECT_EQ(ev[0].teacher_bytes, 123);
  EXPECT_TRUE(ev[0].to_json().contains("teacher_seconds"));
}

TEST(Distill, AFewDistilledStepsLowerTheHeldOutKlOfA2BitModel) {
  DistillFixture f("2bit-g32");
  const double before = f.held_out_kl();
  auto params = lora_params(f.student->model, 8);
  TrainOptions o;
  o.steps = 12;
  o.batch_size = 4;
  o.lr = 2e-3;
  o.warmup_steps = 2;
  o.eval_every = 0;
  o.distill_weight = 1.0;
  Trainer t(f.student->model, params, o, f.data);
  t.set_teacher(&f.teacher.model);
  t.run({});
  set_lora_training(f.student->model, false);
  const double after = f.held_out_kl();
  EXPECT_LT(after, 0.97 * before) << "KL to the teacher " << before << " -> " << after;
}

}  // namespace
}  // namespace hqq
