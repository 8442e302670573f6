// hqq finetune: HQQ+ — train LoRA adapters on a frozen (quantized) model; saves a PEFT adapter.
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/training_options.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/train/finetune_job.h"

namespace hqq::cli {

namespace fs = std::filesystem;

void add_finetune_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args : TrainingArgs {
    std::string model;
    std::vector<std::string> targets;
    LoraConfig lora;
    int64_t attn_rank = 0, mlp_rank = 0;
    std::string compute_dtype = "float32";
    std::string teacher;
    std::optional<double> distill_weight;
  };
  auto a = std::make_shared<Args>();
  a->o.lr = 1e-3;
  a->o.steps = 500;
  a->o.adamw.weight_decay = 0.0;
  auto* cmd =
      app.add_subcommand("finetune", "HQQ+: train LoRA adapters on a frozen (quantized) model");
  cmd->add_option("model", a->model, "Model folder, typically quantized by hqq quantize")
      ->required();
  add_training_options(cmd, *a, "Adapter folder (PEFT format)");
  cmd->add_option("--compute-dtype", a->compute_dtype,
                  "Dtype of the frozen model's compute (the adapter trains in fp32)")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  cmd->add_option("--rank", a->lora.r, "LoRA rank")->check(cli::positive_number());
  cmd->add_option("--alpha", a->lora.alpha, "LoRA alpha (scaling = alpha / rank)")
      ->check(cli::positive_number());
  cmd->add_option("--dropout", a->lora.dropout, "LoRA dropout")->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--targets", a->targets, "Module patterns to adapt (default: all 7 projections)");
  cmd->add_option("--attn-rank", a->attn_rank, "Rank for attention projections (HQQ+ recipe: 32)");
  cmd->add_option("--mlp-rank", a->mlp_rank, "Rank for MLP projections (HQQ+ recipe: 8)");
  cmd->add_option("--teacher", a->teacher,
                  "Full-precision model to distil from: the adapter learns its next-token "
                  "distribution (KL) on the same batches");
  cmd->add_option("--distill-weight", a->distill_weight,
                  "Loss = (1-W)*cross-entropy + W*KL to the teacher (default with --teacher: 1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--distill-topk", a->o.distill_topk,
                  "KL over the teacher's top K tokens plus a rest bucket (0: full vocabulary)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      if (a->teacher.empty() && (a->distill_weight || a->o.distill_topk > 0))
        throw InputError("--distill-weight and --distill-topk need --teacher MODEL");
      FinetuneOptions o;
      o.teacher = a->teacher;
      o.model = a->model;
      o.output = a->output;
      o.data.assign(a->data.begin(), a->data.end());
      o.format = data_format_from_name(a->format);
      o.eval_text = a->eval;
      o.seq_len = a->seq_len;
      o.train = a->o;
      if (!a->teacher.empty()) o.train.distill_weight = a->distill_weight.value_or(1.0);
      o.lora = a->lora;
      if (!a->targets.empty()) o.lora.target_modules = a->targets;
      if (a->attn_rank > 0)
        o.lora.rank_pattern["self_attn"] = a->attn_rank,
        o.lora.alpha_pattern["self_attn"] = double(a->attn_rank);
      if (a->mlp_rank > 0)
        o.lora.rank_pattern["mlp"] = a->mlp_rank, o.lora.alpha_pattern["mlp"] = double(a->mlp_rank);
      o.compute_dtype = a->compute_dtype;
      o.device = g.device;
      o.gradient_checkpointing = a->checkpointing;
      o.resume = a->resume;
      o.overwrite = a->overwrite;
      FinetuneSummary s = run_finetune(
          o, [&](const TrainEvent& e) { print_train_event(g, "finetune", e); }, cli_job(g),
          [&](const FinetuneSummary& s) {
            fmt::print(stderr, "fine-tuning {} LoRA parameters on {} tokens (windows of {})\n",
                       s.trainable_parameters, s.data_tokens, o.seq_len);
            if (!o.teacher.empty())
              fmt::print(stderr,
                         "distilling from {} (weight {}, {}): teacher weights {:.1f} MiB, "
                         "loaded in {:.1f} s\n",
                         o.teacher.string(), o.train.distill_weight,
                         o.train.distill_topk > 0 ? fmt::format("top-{}", o.train.distill_topk)
                                                  : std::string("full vocabulary"),
                         s.teacher_bytes / 1048576.0, s.teacher_load_seconds);
          });
      if (g.json)
        print_json(
            {{"output", a->output},
             {"steps", s.steps},
             {"eval_ppl", s.eval_ppl ? nlohmann::json(*s.eval_ppl) : nlohmann::json(nullptr)},
             {"eval_kl", s.eval_kl ? nlohmann::json(*s.eval_kl) : nlohmann::json(nullptr)},
             {"teacher", a->teacher},
             {"distill_weight", o.train.distill_weight},
             {"distill_topk", o.train.distill_topk},
             {"teacher_bytes", s.teacher_bytes},
             {"teacher_seconds", s.teacher_seconds}});
      else
        fmt::print("fine-tuned {} steps{}{}; adapter in {}\n", s.steps,
                   s.eval_ppl ? fmt::format("; held-out perplexity {:.3f}", *s.eval_ppl) : "",
                   s.eval_kl ? fmt::format(", KL to the teacher {:.5f}", *s.eval_kl) : "",
                   a->output);
      return 0;
    };
  });
}

}  // namespace hqq::cli
