// hqq calibrate MODEL --text FILE -o STATS: per-input-channel activation statistics of every
// projection (calibration.h), for `hqq quantize --calibration STATS`.
#include <fmt/format.h>

#include <filesystem>

#include "app/cli/cli_common.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/output_folder.h"
#include "core/load/model_loader.h"
#include "core/quant/calibration.h"

namespace hqq::cli {

void add_calibrate_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args {
    std::string model, text, output;
    int64_t ctx = 512, max_tokens = 65536;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "calibrate",
      "Collect activation statistics from a text, for quantize --calibration (optional: "
      "quantization is calibration-free without it)");
  cmd->add_option("model", a->model, "Full-precision model folder (never modified)")->required();
  cmd->add_option("--text", a->text, "Plain-text file to run the model on")->required();
  cmd->add_option("-o,--output", a->output, "Statistics file to write (safetensors)")->required();
  cmd->add_option("--ctx", a->ctx, "Tokens per forward pass (default 512)")
      ->check(whole_range(2, int64_t{1} << 16));
  cmd->add_option("--max-tokens", a->max_tokens, "Use at most this many tokens (default 65536)")
      ->check(whole_range(2, int64_t{1} << 30));
  cmd->add_flag("--overwrite", a->overwrite, "Replace the output file if it exists");
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      // Checked before the model loads, so a bad path fails in a second; save_calibration
      // checks again (the guard lives in core, for every caller).
      refuse_output_file(a->output, a->overwrite, {a->model, a->text});
      std::string text = read_text_file(a->text);
      LoadedModel m = load_for_inference(a->model, g);
      if (m.config.raw.contains("quantization_config"))
        throw InputError(a->model + ": is quantized; calibrate the full-precision model");
      const Tokenizer& tok = m.require_tokenizer();
      std::vector<int64_t> tokens = tok.encode_long(text, /*add_bos=*/false, cli_job(g));
      CalibrationStats s = collect_calibration(
          m.model, tokens, {.ctx = a->ctx, .max_tokens = a->max_tokens}, cli_job(g));
      s.text = std::filesystem::path(a->text).filename().string();
      finish_progress_line(g);
      save_calibration(s, {a->output, a->overwrite, {a->model, a->text}});
      if (g.json) {
        print_json({{"output", a->output},
                    {"layers", s.mean_sq.size()},
                    {"tokens", s.tokens},
                    {"ctx", s.ctx}});
      } else {
        fmt::print("calibration statistics of {} layers on {} tokens written to {}\n",
                   s.mean_sq.size(), s.tokens, a->output);
      }
      return 0;
    };
  });
}

}  // namespace hqq::cli
