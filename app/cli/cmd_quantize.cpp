// hqq quantize SRC -o OUT: whole-checkpoint HQQ quantization; hqq export-dequantized.
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/output_folder.h"
#include "core/quant/budget_planner.h"
#include "core/quant/quantize_model.h"

namespace hqq::cli {

void add_quantize_commands(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args {
    std::string source, output, preset, plan_file, optimizer, adapter;
    int bits = 0, axis = -1, iters = -1;
    int64_t group_size = -1;
    bool overwrite = false, round_zero = false, dry_run = false;
    double budget_gb = 0, budget_bits = 0;
    std::string save_plan, plan_measure = "kl", plan_formats = "all", plan_cache, calibration;
    int64_t plan_probe_tokens = 512;
    int embed_bits = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("quantize", "Quantize a checkpoint with HQQ (streamed, layer by layer)");
  cmd->add_option("model", a->source, "Source model folder (never modified)")->required();
  cmd->add_option("-o,--output", a->output, "Output folder (written atomically)")->required();
  cmd->add_option("--preset", a->preset,
                  "Preset, e.g. 4bit-g64, 2bit-g32, 1bit-g8 (default 4bit-g64)");
  cmd->add_option("-b,--bits", a->bits, "Bits per weight: 1, 2, 3, 4 or 8")
      ->check(CLI::IsMember({1, 2, 3, 4, 8}));
  cmd->add_option("-g,--group-size", a->group_size, "Weights per scale/zero group (0: per channel)")
      ->check(cli::non_negative_number());
  cmd->add_option("--axis", a->axis, "Grouping axis: 1 (along inputs, fast kernels) or 0")
      ->check(CLI::IsMember({0, 1}));
  cmd->add_option("--optimizer", a->optimizer,
                  "improved (default), reference (the original HQQ solver) or off")
      ->check(CLI::IsMember({"improved", "reference", "off"}));
  // Bounded: the reference solver keeps every iteration's error per group, and its beta grows
  // by kappa each iteration (past ~70,000 it overflows).
  cmd->add_option("--iters", a->iters,
                  "Half-quadratic solver iterations (default 20, at most 10000)")
      ->check(whole_range(0, 10000));
  cmd->add_flag("--round-zero", a->round_zero,
                "Round the initial zero-point (reference default for 4-bit)");
  cmd->add_option("--plan", a->plan_file, "JSON plan with per-module overrides (see docs)");
  cmd->add_flag("--overwrite", a->overwrite, "Replace the output folder if it exists");
  cmd->add_option("--embed-bits", a->embed_bits,
                  "Store the token embeddings at 8 or 4 bits, looked up one dequantized row per "
                  "token (0: keep them, the default; a tied model's one matrix is its lm_head "
                  "too). The global --lm-head-bits stores lm_head so.")
      ->check(CLI::IsMember({0, 4, 8}));
  cmd->add_option("--calibration", a->calibration,
                  "Statistics from `hqq calibrate`: weigh each input channel's error by them "
                  "(default: calibration-free)");
  auto* budget_gb =
      cmd->add_option(
             "--budget-gb", a->budget_gb,
             "Choose bits and group size per layer for this model size (GB), least total error")
          ->check(cli::positive_number());
  cmd->add_option("--budget-bits", a->budget_bits, "Or: for this average bits per quantized weight")
      ->check(cli::positive_number())
      ->excludes(budget_gb);
  cmd->add_option("--plan-measure", a->plan_measure,
                  "Budget planner's error: kl (default: each layer's KL divergence to the full "
                  "model on tokens it samples itself) or weights (squared weight error)")
      ->check(CLI::IsMember({"kl", "weights"}));
  cmd->add_option("--plan-formats", a->plan_formats,
                  "Formats the budget planner chooses from: all (default: plain and two-level, "
                  "with and without rotation), plain (the plain HQQ presets) or a list of "
                  "names, e.g. 2bit-tl-g16,3bit-tl-g32-rot,4bit-g64");
  cmd->add_option("--plan-probe-tokens", a->plan_probe_tokens,
                  "Tokens the model samples itself for the KL measure, in sequences of up to 128 "
                  "(default 512)")
      ->check(whole_range(2, 65536));
  cmd->add_option("--plan-cache", a->plan_cache,
                  "Keep the budget planner's per-layer measurements in this JSON file: planning "
                  "the same model again (another budget) reuses them");
  cmd->add_option("--save-plan", a->save_plan,
                  "Write the plan (e.g. the budget planner's) to this JSON file");
  cmd->add_flag("--dry-run", a->dry_run, "Plan only: print the plan, write no model");
  cmd->callback([&g, a, run] {
    *run = [&g, a] {
      QuantizeOptions o;
      o.source = a->source;
      o.output = a->output;
      o.overwrite = a->overwrite;
      o.calibration = a->calibration;
      if (!a->plan_file.empty())
        o.plan = QuantPlan::from_json(read_json_file(a->plan_file), a->plan_file);
      else
        o.plan = plan_from_preset(a->preset.empty() ? "4bit-g64" : a->preset);
      QuantConfig& d = o.plan.defaults;
      if (a->bits) d.nbits = a->bits;
      if (a->group_size >= 0) d.group_size = a->group_size;
      if (a->axis >= 0) d.axis = a->axis;
      if (a->iters >= 0) d.iters = a->iters;
      if (!a->optimizer.empty()) d.optimizer = optimizer_from_name(a->optimizer);
      if (a->round_zero) d.round_zero = true;
      if (a->budget_gb > 0 || a->budget_bits > 0) {
        BudgetOptions b;
        if (a->budget_gb > 0)
          b.total_bytes = a->budget_gb * 1e9;
        else
          b.bits_per_weight = a->budget_bits;
        b.measure = plan_measure_from_name(a->plan_measure);
        b.candidates = plan_candidates_from_list(a->plan_formats);
        b.probe.length = std::min<int64_t>(a->plan_probe_tokens, 128);
        b.probe.sequences = (a->plan_probe_tokens + 127) / 128;
        // --lm-head-bits and --embed-bits fix the output matrix and the embedding (in a tied
        // model one matrix); otherwise a GB budget chooses them.
        if (g.lm_head_bits != 0) b.lm_head_bits = g.lm_head_bits;
        if (a->embed_bits != 0) b.embed_bits = a->embed_bits;
        if (!a->plan_cache.empty()) {
          refuse_output_over_sources(a->plan_cache, {a->source, a->plan_file});
          b.cache = a->plan_cache;
        }
        BudgetPlan bp = plan_for_budget(a->source, d, b, cli_job(g));
        finish_progress_line(g);
        o.plan = bp.plan;
        std::map<std::string, int> counts;
        for (const auto& l : bp.layers) ++counts[bp.candidates[l.chosen].name];
        std::string mix;
        for (const auto& [name, n] : counts)
          mix += fmt::format("{}{} x{}", mix.empty() ? "" : ", ", name, n);
        auto matrix = [&](const char* what, int bits) {
          mix += bits ? fmt::format(", {} {}-bit", what, bits) : fmt::format(", {} kept", what);
        };
        if (bp.lm_head) matrix("lm_head", bp.plan.lm_head_bits);
        if (bp.embed) matrix("embedding", bp.plan.embed_bits);
        fmt::print(stderr,
                   "budget plan: {:.4f} bits/weight, {:.6f} GB in all, predicted {} {:.4g} "
                   "({} measurements{}) ({})\n",
                   bp.bits_per_weight(), (bp.quantized_bytes + bp.kept_bytes) / 1e9,
                   plan_measure_name(bp.measure), bp.total_error, bp.measurements,
                   bp.from_cache ? ", from the cache" : "", mix);
      }
      // The global --lm-head-bits, given to quantize, stores lm_head quantized in the output
      // (at load it quantizes a 16-bit head for one run); a GB budget counts it so, and a bit
      // budget counts the projections only.
      if (g.lm_head_bits != 0) o.plan.lm_head_bits = g.lm_head_bits;
      if (a->embed_bits != 0) o.plan.embed_bits = a->embed_bits;
      if (!a->save_plan.empty()) {
        refuse_output_over_sources(a->save_plan, {a->source, a->plan_file});
        write_file_atomic(a->save_plan, o.plan.to_json().dump(2));
      }
      if (a->dry_run) {
        print_json(o.plan.to_json());
        return 0;
      }
      QuantizeSummary s = quantize_checkpoint(o, cli_job(g));
      finish_progress_line(g);
      if (g.json) {
        nlohmann::json j = s.to_json();
        for (auto& l : j["layers"]) l.erase("histogram");
        j["output"] = a->output;
        print_json(j);
      } else {
        double worst = 0, mean = 0;
        for (const auto& l : s.layers) worst = std::max(worst, l.rel_error), mean += l.rel_error;
        mean /= std::max<size_t>(1, s.layers.size());
        fmt::print(
            "quantized {} layers to {:.2f} bits/weight in {:.1f} s: {:.2f} GB -> {:.2f} GB, "
            "relative error mean {:.4f}, worst {:.4f}; peak memory {:.2f} GB\n",
            s.layers.size(), s.bits_per_weight, s.seconds, s.source_bytes / 1e9,
            s.output_bytes / 1e9, mean, worst, s.peak_rss_bytes / 1e9);
        fmt::print("wrote {} (per-layer report: hqq_report.json)\n", a->output);
      }
      return 0;
    };
  });

  auto e = std::make_shared<Args>();
  auto* exp = app.add_subcommand("export-dequantized",
                                 "Write a plain bf16 checkpoint from a quantized one");
  exp->add_option("model", e->source, "Quantized model folder")->required();
  exp->add_option("-o,--output", e->output, "Output folder")->required();
  exp->add_flag("--overwrite", e->overwrite, "Replace the output folder if it exists");
  exp->add_option("--merge-adapter", e->adapter,
                  "Merge this LoRA adapter (PEFT folder) into the weights");
  exp->callback([&g, e, run] {
    *run = [&g, e] {
      export_dequantized({.source = e->source,
                          .output = e->output,
                          .adapter = e->adapter,
                          .overwrite = e->overwrite},
                         cli_job(g));
      finish_progress_line(g);
      if (!g.json)
        fmt::print("wrote {}\n", e->output);
      else
        print_json({{"output", e->output}});
      return 0;
    };
  });
}

}  // namespace hqq::cli
