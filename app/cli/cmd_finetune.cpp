// hqq finetune: HQQ+ — train LoRA adapters on a frozen (quantized) model; saves a PEFT adapter.
#include <fmt/format.h>

#include <fstream>

#include "app/cli/cli_common.h"
#include "app/cli/training_options.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/lora.h"
#include "core/model_loader.h"
#include "core/trainer.h"

namespace hqq::cli {

namespace fs = std::filesystem;

void add_finetune_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args : TrainingArgs {
    std::string model;
    std::vector<std::string> targets;
    LoraConfig lora;
    int64_t attn_rank = 0, mlp_rank = 0;
    std::string compute_dtype = "float32";
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
  cmd->add_option("--rank", a->lora.r, "LoRA rank")->check(CLI::PositiveNumber);
  cmd->add_option("--alpha", a->lora.alpha, "LoRA alpha (scaling = alpha / rank)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dropout", a->lora.dropout, "LoRA dropout")->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--targets", a->targets, "Module patterns to adapt (default: all 7 projections)");
  cmd->add_option("--attn-rank", a->attn_rank, "Rank for attention projections (HQQ+ recipe: 32)");
  cmd->add_option("--mlp-rank", a->mlp_rank, "Rank for MLP projections (HQQ+ recipe: 8)");
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      fs::path out = a->output, ckpt_dir = out / "checkpoint";
      LoadedModel m = load_model(a->model, a->compute_dtype, {}, &interrupt_token());
      const Tokenizer& tok = m.require_tokenizer();
      LoraConfig cfg = a->lora;
      if (!a->targets.empty()) cfg.target_modules = a->targets;
      if (a->attn_rank > 0)
        cfg.rank_pattern["self_attn"] = a->attn_rank,
        cfg.alpha_pattern["self_attn"] = double(a->attn_rank);
      if (a->mlp_rank > 0)
        cfg.rank_pattern["mlp"] = a->mlp_rank, cfg.alpha_pattern["mlp"] = double(a->mlp_rank);
      cfg.base_model_name_or_path = fs::absolute(a->model).string();
      const bool resuming = a->resume && fs::exists(ckpt_dir / "trainer_state.json");
      if (resuming)
        cfg = load_adapter(m.model, ckpt_dir);
      else
        apply_lora(m.model, cfg, a->o.seed);
      std::vector<std::pair<std::string, at::Tensor*>> params;
      for (auto& [name, l] : lora_layers(m.model))
        for (auto& [pname, t] : l->parameters()) params.push_back({name + "." + pname, t});
      params = make_trainable(params);
      set_lora_training(m.model, true);
      m.model.set_gradient_checkpointing(a->checkpointing);

      std::vector<fs::path> files(a->data.begin(), a->data.end());
      TokenWindows data =
          load_training_data(files, tok, a->seq_len, data_format_from_name(a->format));
      std::vector<int64_t> eval;
      if (!a->eval.empty()) eval = tok.encode(read_text_file(a->eval), true);
      int64_t trainable = 0;
      for (auto& [n, t] : params) trainable += t->numel();
      fmt::print(stderr, "fine-tuning {} LoRA parameters on {} tokens ({} windows of {})\n",
                 trainable, data.tokens(), data.examples(), a->seq_len);
      Trainer trainer(m.model, params, a->o, data, eval);
      if (resuming) trainer.load_state(ckpt_dir);
      fs::create_directories(out);
      std::optional<double> last_ppl;  // the run evaluates at its last step
      std::ofstream log(out / "training_log.jsonl", resuming ? std::ios::app : std::ios::trunc);
      trainer.run(
          [&](const TrainEvent& e) {
            log << e.to_json().dump() << "\n" << std::flush;
            print_train_event(g, "finetune", e);
            if (e.eval_ppl) last_ppl = e.eval_ppl;
          },
          &interrupt_token(), nullptr,
          [&](int64_t) {
            save_adapter(m.model, cfg, ckpt_dir);
            trainer.save_state(ckpt_dir);
          });
      set_lora_training(m.model, false);
      save_adapter(m.model, cfg, out);
      if (g.json)
        print_json({{"output", a->output},
                    {"steps", trainer.step()},
                    {"eval_ppl", last_ppl ? nlohmann::json(*last_ppl) : nlohmann::json(nullptr)}});
      else
        fmt::print("fine-tuned {} steps{}; adapter in {}\n", trainer.step(),
                   last_ppl ? fmt::format("; held-out perplexity {:.3f}", *last_ppl) : "",
                   a->output);
      return 0;
    };
  });
}

}  // namespace hqq::cli
