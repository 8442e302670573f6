// hqq ppl MODEL --text FILE: perplexity as the papers report it (or as llama.cpp does);
// with --reference, also the KL divergence to the full-precision model on the same tokens.
#include <fmt/format.h>

#include <filesystem>

#include "app/cli/cli_common.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/generate/kl_divergence.h"
#include "core/generate/kl_reference_file.h"
#include "core/generate/perplexity.h"
#include "core/io/output_folder.h"
#include "core/load/model_loader.h"

namespace hqq::cli {

void add_ppl_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args {
    std::string model, text, method = "standard", reference, save_reference;
    int64_t ctx = 2048, max_tokens = 0, batch = 1;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("ppl", "Perplexity of a model on a text file");
  cmd->add_option("model", a->model, "Model folder")->required();
  cmd->add_option("--text", a->text, "Plain-text file to score")->required();
  cmd->add_option("--ctx", a->ctx, "Window length in tokens")
      ->check(whole_range(2, int64_t{1} << 20));
  cmd->add_option("--max-tokens", a->max_tokens, "Use only the first N tokens of the text (0: all)")
      ->check(cli::non_negative_number());
  cmd->add_option("--batch", a->batch, "Windows evaluated together")->check(cli::positive_number());
  cmd->add_option("--method", a->method, "standard (HQQ/GPTQ papers) or llamacpp")
      ->check(CLI::IsMember({"standard", "llamacpp"}));
  cmd->add_option("--reference", a->reference,
                  "Full-precision model folder, or a file from --save-reference: also report the "
                  "KL divergence to it, its 99th percentile, top-1 agreement and the ppl ratio");
  cmd->add_option("--save-reference", a->save_reference,
                  "Write MODEL's log-probabilities on the scored tokens to this file, for a later "
                  "--reference FILE (16-bit codes per vocabulary entry and token)");
  cmd->add_flag("--overwrite", a->overwrite, "Replace the --save-reference file if it exists");
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      if (!a->reference.empty() && !a->save_reference.empty())
        throw InputError(
            "--reference and --save-reference: give one (save the full-precision "
            "model's reference first, then score the quantized one against it)");
      if (!a->save_reference.empty()) {
        // Checked before the model loads, so a bad path fails in a second; save_reference
        // checks again (the guard lives in core, for every caller).
        refuse_output_file(a->save_reference, a->overwrite, {a->model, a->text});
      }
      std::string text = read_text_file(a->text);
      LoadedModel m = load_for_inference(a->model, g);
      const Tokenizer& tok = m.require_tokenizer();
      std::vector<int64_t> tokens = tok.encode_long(text, /*add_bos=*/true, cli_job(g));
      if (a->max_tokens > 0 && static_cast<int64_t>(tokens.size()) > a->max_tokens)
        tokens.resize(a->max_tokens);
      PerplexityOptions opts;
      opts.ctx = a->ctx;
      opts.batch = a->batch;
      opts.method = a->method == "llamacpp" ? PplMethod::LlamaCpp : PplMethod::Standard;
      opts.bos_id = tok.bos_id();
      std::optional<KlResult> kl;
      PerplexityResult r;
      if (!a->reference.empty()) {
        std::unique_ptr<KlReference> ref;
        std::optional<LoadedModel> ref_model;
        if (std::filesystem::is_directory(a->reference)) {
          ref_model.emplace(
              load_model(a->reference, {.dtype = g.dtype, .device = g.device}, cli_job(g)));
          finish_progress_line(g);
          if (ref_model->config.vocab_size != m.config.vocab_size)
            throw InputError(a->reference + ": the reference has a vocabulary of " +
                             std::to_string(ref_model->config.vocab_size) + " tokens, " + a->model +
                             " " + std::to_string(m.config.vocab_size));
          ref = std::make_unique<LiveReference>(ref_model->model, first_scored_position(opts));
        } else {
          ref = ReferenceFile::open(a->reference, reference_key(tokens, opts, m.config.vocab_size));
        }
        PerplexityWithKl both = perplexity_with_reference(m.model, tokens, opts, *ref, cli_job(g));
        r = both.ppl;
        kl = both.kl;
      } else if (!a->save_reference.empty()) {
        r = save_reference(m.model, tokens, opts,
                           {a->save_reference, a->overwrite, {a->model, a->text}}, cli_job(g));
      } else {
        r = perplexity(m.model, tokens, opts, cli_job(g));
      }
      finish_progress_line(g);
      if (g.json) {
        nlohmann::json j = {{"ppl", r.ppl},
                            {"mean_nll", r.mean_nll},
                            {"tokens_scored", r.tokens_scored},
                            {"ctx", r.ctx},
                            {"windows", r.windows},
                            {"seconds", r.seconds},
                            {"method", r.method},
                            {"text_tokens", tokens.size()},
                            {"model", a->model},
                            {"text", a->text}};
        if (kl) {
          j.update(kl->to_json());
          j["reference"] = a->reference;
        }
        if (!a->save_reference.empty()) j["saved_reference"] = a->save_reference;
        print_json(j);
      } else {
        fmt::print(
            "perplexity {:.4f} (mean NLL {:.5f}) over {} tokens in {} windows of {} [{}], {:.1f} "
            "s\n",
            r.ppl, r.mean_nll, r.tokens_scored, r.windows, r.ctx, r.method, r.seconds);
        if (kl) {
          fmt::print("window  ppl        ppl(ref)   KL         top-1 %\n");
          for (const auto& w : kl->windows)
            fmt::print("{:6d}  {:9.4f}  {:9.4f}  {:9.6f}  {:6.2f}\n", w.window + 1, w.ppl,
                       w.ppl_reference, w.kl, 100.0 * w.top1);
          fmt::print(
              "KL divergence to {}: mean {:.6f}, 99% {:.6f}, median {:.6f}, max {:.6f}; top-1 "
              "agreement {:.3f} %; ppl {:.4f} vs reference {:.4f} (ratio {:.6f})\n",
              a->reference, kl->mean_kl, kl->kl_p99, kl->kl_median, kl->kl_max, 100.0 * kl->top1,
              kl->ppl, kl->ppl_reference, kl->ppl_ratio);
        }
        if (!a->save_reference.empty())
          fmt::print("reference log-probabilities saved to {}\n", a->save_reference);
      }
      return 0;
    };
  });
}

}  // namespace hqq::cli
