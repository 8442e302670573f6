// hqq train: full-parameter training of a small model from a config (or continuing a model).
#include <fmt/format.h>

#include <unistd.h>
#include <fstream>

#include "app/cli/cli_common.h"
#include "app/cli/training_options.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/checkpoint.h"
#include "core/io/output_folder.h"
#include "core/load/model_loader.h"
#include "core/train/trainer.h"

namespace hqq::cli {

namespace fs = std::filesystem;

void add_train_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args : TrainingArgs {
    std::string config, init, tokenizer;
    std::string save_dtype = "float32";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "train", "Train a small model (all parameters): from a config.json, or continue one");
  cmd->add_option("--config", a->config, "config.json of a new model (random initialisation)");
  cmd->add_option("--init", a->init, "Or: a model folder to continue training");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "tokenizer.model, or a folder with it (default: the --init folder)");
  add_training_options(cmd, *a, "Output model folder (checkpoints go to OUTPUT/checkpoint)");
  cmd->add_option("--save-dtype", a->save_dtype, "Dtype of the saved model")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      if (a->config.empty() == a->init.empty())
        throw InputError("give exactly one of --config and --init");
      // Built in a temporary folder renamed over the output at the end (see OutputFolder),
      // which also keeps it off every input.
      std::vector<fs::path> sources = {a->init, a->config, a->tokenizer, a->eval};
      sources.insert(sources.end(), a->data.begin(), a->data.end());
      refuse_output_over_sources(a->output, sources);
      const bool resuming =
          a->resume && fs::exists(fs::path(a->output) / "checkpoint" / "trainer_state.json");
      if (fs::exists(a->output) && !a->overwrite && !resuming)
        fail_input(a->output, "already exists; pass --overwrite to replace it (or --resume)");
      OutputFolder staged(a->output, a->overwrite || resuming, sources);
      if (resuming) staged.copy_existing_target();
      fs::path out = staged.path(), ckpt_dir = out / "checkpoint";
      fs::path tok_path = a->tokenizer.empty() ? fs::path(a->init) : fs::path(a->tokenizer);
      if (tok_path.empty()) throw InputError("--tokenizer is required with --config");
      fs::path tok_dir = fs::is_directory(tok_path) ? tok_path : tok_path.parent_path();
      Tokenizer tok = fs::is_directory(tok_path) ? Tokenizer::load(tok_path)
                                                 : Tokenizer::from_model_file(tok_path);

      ModelConfig config = a->config.empty()
                               ? load_model_config(a->init)
                               : parse_model_config(read_json_file(a->config), a->config);
      if (tok.vocab_size() > config.vocab_size)
        throw InputError("the tokenizer has " + std::to_string(tok.vocab_size()) +
                         " pieces, more than vocab_size " + std::to_string(config.vocab_size));
      LlamaModel model = [&] {
        fs::path from = resuming ? ckpt_dir : fs::path(a->init);
        if (from.empty()) return LlamaModel::random(config, a->o.seed);
        LoadOptions lo;
        return LlamaModel::load(Checkpoint::open(from), config, lo);
      }();
      auto trainable = make_trainable(model.named_parameters());
      model.retie_embeddings();
      model.set_gradient_checkpointing(a->checkpointing);

      std::vector<fs::path> files(a->data.begin(), a->data.end());
      TokenWindows data = load_training_data(
          files, tok, a->seq_len, data_format_from_name(a->format), {.cancel = &interrupt_token()});
      std::vector<int64_t> eval;
      if (!a->eval.empty()) eval = tok.encode_long(read_text_file(a->eval), true, cli_job(g));
      fmt::print(stderr, "training {} parameters on {} tokens ({} windows of {}); eval {} tokens\n",
                 config.parameter_count(), data.tokens(), data.examples(), a->seq_len, eval.size());

      Trainer trainer(model, trainable, a->o, data, eval);
      if (resuming) {
        trainer.load_state(ckpt_dir);
        fmt::print(stderr, "resumed at step {}\n", trainer.step());
      }
      std::optional<double> last_ppl;  // the run evaluates at its last step
      std::ofstream log(out / "training_log.jsonl", resuming ? std::ios::app : std::ios::trunc);
      int64_t checkpointed = 0;
      auto save_checkpoint = [&](int64_t step) {
        save_model(model, ckpt_dir, at::kFloat);
        trainer.save_state(ckpt_dir);
        checkpointed = step;
      };
      try {
        trainer.run(
            [&](const TrainEvent& e) {
              log << e.to_json().dump() << "\n" << std::flush;
              print_train_event(g, "train", e);
              if (e.eval_ppl) last_ppl = e.eval_ppl;
            },
            {.cancel = &interrupt_token()}, save_checkpoint);
      } catch (const Error&) {
        // Keep a checkpoint this run wrote (resumable); otherwise nothing is left behind.
        if (checkpointed) log.close(), staged.commit();
        throw;
      }
      save_model(model, out, a->save_dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
      if (fs::is_directory(tok_path))
        copy_tokenizer_files(tok_dir, out);
      else
        fs::copy_file(tok_path, out / "tokenizer.model", fs::copy_options::overwrite_existing);
      log.close();
      staged.commit();
      if (g.json)
        print_json({{"output", a->output},
                    {"steps", trainer.step()},
                    {"eval_ppl", last_ppl ? nlohmann::json(*last_ppl) : nlohmann::json(nullptr)}});
      else
        fmt::print("trained {} steps{}; wrote {}\n", trainer.step(),
                   last_ppl ? fmt::format("; held-out perplexity {:.3f}", *last_ppl) : "",
                   a->output);
      return 0;
    };
  });
}

}  // namespace hqq::cli
