#include "app/cli/training_options.h"

#include <fmt/format.h>
#include <unistd.h>

namespace hqq::cli {

void add_training_options(CLI::App* cmd, TrainingArgs& a, const std::string& output_help) {
  auto& o = a.o;
  cmd->add_option("--data", a.data, "Training files: .txt, .jsonl with \"text\", or chat .jsonl")
      ->required();
  cmd->add_option("--format", a.format, "auto, text, jsonl, chat")
      ->check(CLI::IsMember({"auto", "text", "jsonl", "chat"}));
  cmd->add_option("--eval", a.eval, "Held-out text for perplexity during training");
  cmd->add_option("-o,--output", a.output, output_help)->required();
  cmd->add_option("--steps", o.steps, "Optimizer steps")->check(cli::positive_number());
  cmd->add_option("--batch", o.batch_size, "Sequences per micro-batch")
      ->check(cli::positive_number());
  cmd->add_option("--accum", o.grad_accum, "Micro-batches per step")->check(cli::positive_number());
  cmd->add_option("--seq-len", a.seq_len, "Tokens per sequence")
      ->check(whole_range(2, int64_t{1} << 16));
  cmd->add_option("--lr", o.lr, "Peak learning rate")->check(cli::positive_number());
  cmd->add_option("--warmup", o.warmup_steps, "Warmup steps")->check(cli::non_negative_number());
  cmd->add_option("--schedule", o.schedule, "cosine, linear or constant")
      ->check(CLI::IsMember({"cosine", "linear", "constant"}));
  cmd->add_option("--weight-decay", o.adamw.weight_decay, "AdamW weight decay")
      ->check(cli::non_negative_number());
  cmd->add_option("--clip", o.clip_norm, "Gradient norm clip (0: off)")
      ->check(cli::non_negative_number());
  cmd->add_option("--eval-every", o.eval_every, "Evaluate every N steps (0: at the end)")
      ->check(cli::non_negative_number());
  cmd->add_option("--save-every", o.save_every, "Checkpoint every N steps")
      ->check(cli::non_negative_number());
  cmd->add_option("--seed", o.seed, "Seed for initialisation and data order");
  cmd->add_flag("--resume", a.resume, "Continue from OUTPUT/checkpoint");
  cmd->add_flag("--overwrite", a.overwrite, "Replace the output folder if it exists");
  cmd->add_flag("--gradient-checkpointing", a.checkpointing,
                "Recompute each layer in backward (less memory, ~30% slower)");
}

void print_train_event(const GlobalOptions& g, const char* label, const TrainEvent& e) {
  if (g.quiet) return;
  const bool tty = isatty(STDERR_FILENO);
  std::string eval = e.eval_ppl ? fmt::format(" eval ppl {:.3f}", *e.eval_ppl) : "";
  if (e.eval_kl) eval += fmt::format(" eval KL {:.5f}", *e.eval_kl);
  if (e.distill_kl) eval = fmt::format(" (ce {:.4f} KL {:.4f})", *e.ce_loss, *e.distill_kl) + eval;
  fmt::print(stderr, "{}[{}] step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s{} ETA {:.0f}s{}",
             tty ? "\r\033[K" : "", label, e.step, e.steps, e.loss, e.lr, e.tokens_per_second, eval,
             e.eta_seconds, (tty && !e.eval_ppl) ? "" : "\n");
}

}  // namespace hqq::cli
