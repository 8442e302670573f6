#pragma once
// What every hqq subcommand shares: global options, Ctrl-C to cancel, progress on stderr.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/job.h"
#include "core/load/model_loader.h"

namespace hqq::cli {

struct GlobalOptions {
  int threads = 0;              // 0: all cores
  std::string dtype = "auto";   // compute dtype
  bool json = false;            // machine-readable results on stdout
  bool quiet = false;           // no progress on stderr
  std::string adapter;          // PEFT LoRA adapter folder applied on top of the model
  std::string device = "auto";  // auto, cpu, cuda, cuda:N
  int lm_head_bits = 0;         // 8 or 4: lm_head quantized at load (model_loader.h)
};

// Numeric option checks with plain messages ("must be a positive number"), in place of CLI11's
// PositiveNumber, whose message spells out the range 0 to DBL_MAX in full.
CLI::Validator positive_number();
CLI::Validator non_negative_number();
CLI::Validator whole_range(int64_t lo, int64_t hi);  // a whole number in [lo, hi]

// The token Ctrl-C (SIGINT) and SIGTERM trigger (installed by main); jobs poll it.
CancelToken& interrupt_token();
void install_interrupt_handler();
// After a cancelled step that the command survives (a chat reply), arm Ctrl-C again.
void reset_interrupts();

// Progress lines on stderr: rewritten in place on a terminal, one line per step otherwise.
ProgressFn stderr_progress(const GlobalOptions& g);
void finish_progress_line(const GlobalOptions& g);

// The job contract as the CLI fills it: progress on stderr, Ctrl-C / SIGTERM cancel.
JobContext cli_job(const GlobalOptions& g);

void print_json(const nlohmann::json& j);

// Loads a model for generate/chat/ppl with the global dtype, progress and --adapter.
LoadedModel load_for_inference(const std::string& dir, const GlobalOptions& g);

// Registers the subcommands; each sets *run to its action when selected.
using Action = std::function<int()>;
void add_info_command(CLI::App& app, GlobalOptions& g, Action* run);
void add_generate_commands(CLI::App& app, GlobalOptions& g, Action* run);
void add_ppl_command(CLI::App& app, GlobalOptions& g, Action* run);
void add_calibrate_command(CLI::App& app, GlobalOptions& g, Action* run);
void add_quantize_commands(CLI::App& app, GlobalOptions& g, Action* run);
void add_train_command(CLI::App& app, GlobalOptions& g, Action* run);
void add_finetune_command(CLI::App& app, GlobalOptions& g, Action* run);
void add_tokenize_command(CLI::App& app, GlobalOptions& g, Action* run);

}  // namespace hqq::cli
