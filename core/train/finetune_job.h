#pragma once
// HQQ+ fine-tuning as one job, shared by `hqq finetune` and the GUI's Fine-tune page: load the
// frozen (quantized) model, wrap its projections with LoRA, train on a dataset, checkpoint, and
// save a PEFT adapter. Progress arrives as TrainEvents; cancel and pause are polled per step.
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/model/lora.h"
#include "core/train/trainer.h"
#include "core/train/training_data.h"

namespace hqq {

struct FinetuneOptions {
  std::filesystem::path model;   // model folder, typically quantized
  std::filesystem::path output;  // adapter folder (PEFT); its checkpoint/ holds resumable state
  std::vector<std::filesystem::path> data;
  DataFormat format = DataFormat::Auto;
  std::filesystem::path eval_text;  // held-out plain text for perplexity (optional)
  int64_t seq_len = 256;
  TrainOptions train;
  LoraConfig lora;
  std::string compute_dtype = "float32";  // the frozen model's; the adapter trains in fp32
  std::string device = "auto";            // see core/base/device.h
  bool gradient_checkpointing = false;
  bool resume = false;     // continue from output/checkpoint when it exists
  bool overwrite = false;  // replace an existing output folder (never one of the inputs)
  // Distillation: the full-precision model, run beside the student on every batch (weight and
  // top-k in train.distill_weight / train.distill_topk). Empty: plain next-token training.
  std::filesystem::path teacher;
};

struct FinetuneSummary {
  int64_t steps = 0;
  int64_t trainable_parameters = 0;
  int64_t data_tokens = 0;
  std::optional<double> eval_ppl;  // the last held-out perplexity
  std::optional<double> eval_kl;   // the last held-out KL to the teacher
  int64_t teacher_bytes = 0;       // the teacher's weights in memory (0: no teacher)
  double teacher_load_seconds = 0;
  double teacher_seconds = 0;  // the teacher's forward passes, in total
  std::filesystem::path output;
};

// `on_start` (optional) is told what will be trained before the first step. Writes
// output/training_log.jsonl (one TrainEvent per line). The output is built in a temporary folder
// renamed into place at the end; an existing output is refused unless `overwrite` (or `resume`
// with a checkpoint there). Throws Cancelled when cancelled, InputError when the loss stops
// being finite: when the run had written a checkpoint (save_every) the folder is kept with it,
// so the run can be resumed, else nothing is left behind.
FinetuneSummary run_finetune(const FinetuneOptions& o,
                             const std::function<void(const TrainEvent&)>& on_event,
                             const JobContext& job = {},
                             const std::function<void(const FinetuneSummary&)>& on_start = {});

}  // namespace hqq
