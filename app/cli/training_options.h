#pragma once
// Options and progress output shared by the commands that train (hqq train, hqq finetune).
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "app/cli/cli_common.h"
#include "core/train/trainer.h"

namespace hqq::cli {

struct TrainingArgs {
  std::vector<std::string> data;
  std::string format = "auto", eval, output;
  TrainOptions o;
  int64_t seq_len = 256;
  bool resume = false, checkpointing = false, overwrite = false;
};

// --data --format --eval -o --steps --batch --accum --seq-len --lr --warmup --schedule
// --weight-decay --clip --eval-every --save-every --seed --resume --overwrite
// --gradient-checkpointing
void add_training_options(CLI::App* cmd, TrainingArgs& a, const std::string& output_help);

// One progress line per step on stderr (rewritten in place on a terminal).
void print_train_event(const GlobalOptions& g, const char* label, const TrainEvent& e);

}  // namespace hqq::cli
