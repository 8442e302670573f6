// hqq ppl MODEL --text FILE: perplexity as the papers report it (or as llama.cpp does).
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "core/base/json_file.h"
#include "core/load/model_loader.h"
#include "core/generate/perplexity.h"

namespace hqq::cli {

void add_ppl_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args {
    std::string model, text, method = "standard";
    int64_t ctx = 2048, max_tokens = 0, batch = 1;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("ppl", "Perplexity of a model on a text file");
  cmd->add_option("model", a->model, "Model folder")->required();
  cmd->add_option("--text", a->text, "Plain-text file to score")->required();
  cmd->add_option("--ctx", a->ctx, "Window length in tokens")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--max-tokens", a->max_tokens, "Use only the first N tokens of the text (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", a->batch, "Windows evaluated together")->check(CLI::PositiveNumber);
  cmd->add_option("--method", a->method, "standard (HQQ/GPTQ papers) or llamacpp")
      ->check(CLI::IsMember({"standard", "llamacpp"}));
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      std::string text = read_text_file(a->text);
      LoadedModel m = load_for_inference(a->model, g);
      const Tokenizer& tok = m.require_tokenizer();
      std::vector<int64_t> tokens = tok.encode(text, /*add_bos=*/true);
      if (a->max_tokens > 0 && static_cast<int64_t>(tokens.size()) > a->max_tokens)
        tokens.resize(a->max_tokens);
      PerplexityOptions opts;
      opts.ctx = a->ctx;
      opts.batch = a->batch;
      opts.method = a->method == "llamacpp" ? PplMethod::LlamaCpp : PplMethod::Standard;
      opts.bos_id = tok.bos_id();
      PerplexityResult r =
          perplexity(m.model, tokens, opts, cli_job(g));
      finish_progress_line(g);
      if (g.json) {
        print_json({{"ppl", r.ppl},
                    {"mean_nll", r.mean_nll},
                    {"tokens_scored", r.tokens_scored},
                    {"ctx", r.ctx},
                    {"windows", r.windows},
                    {"seconds", r.seconds},
                    {"method", r.method},
                    {"text_tokens", tokens.size()},
                    {"model", a->model},
                    {"text", a->text}});
      } else {
        fmt::print(
            "perplexity {:.4f} (mean NLL {:.5f}) over {} tokens in {} windows of {} [{}], {:.1f} "
            "s\n",
            r.ppl, r.mean_nll, r.tokens_scored, r.windows, r.ctx, r.method, r.seconds);
      }
      return 0;
    };
  });
}

}  // namespace hqq::cli
