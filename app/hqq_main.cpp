// hqq: the command-line face of HQQ Studio. Parses arguments and runs one core job.
// Exit codes: 0 success, 1 failure, 2 bad input (arguments, files, configs), 130 interrupted.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/cli/cli_common.h"
#include "core/base/build_info.h"
#include "core/base/error.h"
#include "core/base/threads.h"

int main(int argc, char** argv) {
  using namespace hqq;
  CLI::App app{
      "HQQ Studio command line: inspect, quantize, run and evaluate local LLM checkpoints"};
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`hqq ppl MODEL --json`), where users
  // type them.
  app.fallthrough();
  cli::GlobalOptions g;
  app.add_option("-t,--threads", g.threads, "Compute threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--dtype", g.dtype, "Compute dtype: auto, float32, bfloat16")
      ->check(CLI::IsMember({"auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"}));
  app.add_option("--device", g.device, "Compute device: auto, cpu, cuda, cuda:N (default auto)");
  app.add_flag("--json", g.json, "Print results as JSON on stdout");
  app.add_flag("-q,--quiet", g.quiet, "No progress on stderr");
  app.add_option("--adapter", g.adapter,
                 "LoRA adapter folder (PEFT format) for generate, chat and ppl");
  app.set_version_flag("--version", [] {
    return std::string("hqq " HQQ_VERSION_STRING " (CPU kernels: ") + kernel_summary() + ")";
  });
  cli::Action run;
  cli::add_info_command(app, g, &run);
  cli::add_generate_commands(app, g, &run);
  cli::add_ppl_command(app, g, &run);
  cli::add_quantize_commands(app, g, &run);
  cli::add_train_command(app, g, &run);
  cli::add_finetune_command(app, g, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  cli::install_interrupt_handler();
  set_compute_threads(g.threads);
  try {
    return run ? run() : 2;
  } catch (const Cancelled&) {
    std::fprintf(stderr, "\ninterrupted\n");
    return 130;
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
