#pragma once
// The training loop shared by full-parameter training (small models, the demo model) and HQQ+
// LoRA fine-tuning: AdamW, warmup + cosine/linear/constant schedule, gradient accumulation and
// clipping, held-out perplexity every N steps, checkpoint/resume, pause and cancel, and an event
// per step for the CLI progress bar and the GUI charts.
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/model/llama_model.h"
#include "core/train/adamw.h"
#include "core/train/training_data.h"

namespace hqq {

struct TrainOptions {
  int64_t steps = 1000;
  int64_t batch_size = 8;
  int64_t grad_accum = 1;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;  // final lr = lr * min_lr_ratio (cosine, linear)
  int64_t warmup_steps = 50;
  std::string schedule = "cosine";  // cosine, linear, constant
  AdamWOptions adamw;
  double clip_norm = 1.0;
  int64_t eval_every = 100;  // 0: never during training
  int64_t eval_max_tokens = 65536;
  int64_t save_every = 0;  // checkpoint every N steps (0: at the end only)
  uint64_t seed = 0;
  // Distillation (with a teacher, see Trainer::set_teacher): loss = (1 − w)·cross-entropy +
  // w·KL(teacher ‖ model); distill_topk > 0 keeps only the teacher's top-k plus a rest bucket.
  double distill_weight = 0;
  int64_t distill_topk = 0;
  nlohmann::json to_json() const;
};

struct TrainEvent {
  int64_t step = 0, steps = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  double tokens_per_second = 0;
  int64_t tokens = 0;              // trained so far
  std::optional<double> eval_ppl;  // when evaluated at this step
  double elapsed_seconds = 0;
  double eta_seconds = 0;
  int64_t rss_bytes = 0;
  // With a teacher: the two parts of the loss, the teacher's forward time so far and its weights.
  std::optional<double> ce_loss, distill_kl;
  std::optional<double> eval_kl;  // held-out KL(teacher ‖ model) when evaluated
  double teacher_seconds = 0;
  int64_t teacher_bytes = 0;
  nlohmann::json to_json() const;
};

double learning_rate(const TrainOptions& o, int64_t step);

class Trainer {
 public:
  // `trainable`: the parameters to update, already fp32 leaves with requires_grad (see
  // make_trainable); everything else must not require grad.
  Trainer(LlamaModel& model, std::vector<std::pair<std::string, at::Tensor*>> trainable,
          TrainOptions opts, const TokenWindows& train, std::vector<int64_t> eval_tokens = {});

  using EventFn = std::function<void(const TrainEvent&)>;
  // Runs until opts.steps. Polls `cancel` (throws Cancelled after saving nothing) and `pause`
  // (waits while set) between steps. `checkpoint` is called every save_every steps and at the end.
  void run(const EventFn& on_event, const JobContext& job = {},
           const std::function<void(int64_t step)>& checkpoint = {});

  // Distil from `teacher` (same vocabulary, run alongside on the same batches, no gradients);
  // `teacher_bytes` is reported in the events. Must outlive run().
  void set_teacher(const LlamaModel* teacher, int64_t teacher_bytes = 0);

  int64_t step() const { return step_; }
  double evaluate() const;  // held-out perplexity (windows of the training length)
  // Held-out perplexity and, with a teacher, the KL to it (NaN without one).
  std::pair<double, double> evaluate_with_kl() const;
  // Optimizer moments + step into `dir` (trainer_state.json, optimizer.safetensors).
  void save_state(const std::filesystem::path& dir) const;
  void load_state(const std::filesystem::path& dir);
  const TrainOptions& options() const { return opts_; }

 private:
  LlamaModel& model_;
  std::vector<std::pair<std::string, at::Tensor*>> trainable_;
  std::vector<at::Tensor> params_;
  TrainOptions opts_;
  const TokenWindows& train_;
  std::vector<int64_t> eval_tokens_;
  AdamW optimizer_;
  int64_t step_ = 0;
  int64_t tokens_ = 0;
  const LlamaModel* teacher_ = nullptr;
  int64_t teacher_bytes_ = 0;
  double teacher_seconds_ = 0;
};

// Replaces the given parameters by fp32 leaf copies that require grad; returns them.
std::vector<std::pair<std::string, at::Tensor*>> make_trainable(
    std::vector<std::pair<std::string, at::Tensor*>> params);

// Writes config.json and model.safetensors of a (trained) model in `dtype`, atomically per file.
void save_model(LlamaModel& model, const std::filesystem::path& dir, at::ScalarType dtype);

}  // namespace hqq
