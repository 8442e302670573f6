// hqq: the command-line face of HQQ Studio. Parses arguments and runs one core job.
// Exit codes: 0 success, 1 failure, 2 bad input (arguments, files, configs), 130 interrupted.
#include <c10/util/Exception.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>

#include "app/cli/cli_common.h"
#include "core/base/build_info.h"
#include "core/base/error.h"
#include "core/base/threads.h"

int main(int argc, char** argv) {
  using namespace hqq;
  // First: a stop signal during start-up must also end in a clean exit 130, not a default kill.
  cli::install_interrupt_handler();
  CLI::App app{
      "HQQ Studio command line: inspect, quantize, run and evaluate local LLM checkpoints"};
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`hqq ppl MODEL --json`), where users
  // type them.
  app.fallthrough();
  cli::GlobalOptions g;
  app.add_option("-t,--threads", g.threads, "Compute threads (default: all cores)")
      ->check(cli::whole_range(0, 1 << 20));
  app.add_option("--dtype", g.dtype, "Compute dtype: auto, float32, bfloat16")
      ->check(CLI::IsMember({"auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"}));
  app.add_option("--device", g.device, "Compute device: auto, cpu, cuda, cuda:N (default auto)");
  app.add_flag("--json", g.json, "Print results as JSON on stdout");
  app.add_flag("-q,--quiet", g.quiet, "No progress on stderr");
  app.add_option("--adapter", g.adapter,
                 "LoRA adapter folder (PEFT format) for generate, chat and ppl");
  app.add_option("--lm-head-bits", g.lm_head_bits,
                 "lm_head at 8 or 4 bits: quantize stores it so; generate, chat and ppl "
                 "quantize a 16-bit one at load (faster decoding; 0: keep it, the default)")
      ->check(CLI::IsMember({0, 4, 8}));
  app.set_version_flag("--version", [] {
    return std::string("hqq " HQQ_VERSION_STRING " (CPU kernels: ") + kernel_summary() + ")";
  });
  cli::Action run;
  cli::add_info_command(app, g, &run);
  cli::add_generate_commands(app, g, &run);
  cli::add_ppl_command(app, g, &run);
  cli::add_quantize_commands(app, g, &run);
  cli::add_calibrate_command(app, g, &run);
  cli::add_train_command(app, g, &run);
  cli::add_finetune_command(app, g, &run);
  cli::add_tokenize_command(app, g, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  // More threads than cores only thrash (and 100,000 would exhaust the process): cap, and say so.
  if (g.threads > available_cores())
    std::fprintf(stderr, "note: --threads %d capped at the %d cores available\n", g.threads,
                 available_cores());
  set_compute_threads(std::min(g.threads, available_cores()));
  try {
    return run ? run() : 2;
  } catch (const Cancelled&) {
    std::fprintf(stderr, "\ninterrupted\n");
    return 130;
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    // libtorch's what() carries a C++ stack trace; the user gets its message only. Where a
    // tensor was being read, the core wrapped this with the file and tensor (an hqq::Error).
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "error: unexpected JSON content: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
