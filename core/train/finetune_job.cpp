#include "core/train/finetune_job.h"

#include <chrono>
#include <fstream>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/output_folder.h"
#include "core/load/model_loader.h"

namespace hqq {

namespace fs = std::filesystem;

FinetuneSummary run_finetune(const FinetuneOptions& o,
                             const std::function<void(const TrainEvent&)>& on_event,
                             const JobContext& job,
                             const std::function<void(const FinetuneSummary&)>& on_start) {
  // Inputs the output must stay clear of: the model, the data, the held-out text.
  std::vector<fs::path> sources = {o.model, o.eval_text};
  sources.insert(sources.end(), o.data.begin(), o.data.end());
  refuse_output_over_sources(o.output, sources);
  const bool resuming = o.resume && fs::exists(o.output / "checkpoint" / "trainer_state.json");
  if (fs::exists(o.output) && !o.overwrite && !resuming)
    fail_input(o.output.string(),
               "already exists; pass --overwrite to replace this adapter folder (or --resume to "
               "continue its checkpoint)");
  // The adapter is built in a temporary folder renamed over the output at the end: a failed or
  // interrupted run leaves the previous folder (or nothing) in place.
  OutputFolder out(o.output, o.overwrite || resuming, sources);
  if (resuming) out.copy_existing_target();
  const fs::path ckpt_dir = out.path() / "checkpoint";

  ModelLoadOptions lo;
  lo.dtype = o.compute_dtype;
  lo.device = o.device;
  LoadedModel m = load_model(o.model, lo, job);
  const Tokenizer& tok = m.require_tokenizer();
  // Data problems (a broken JSONL line) should surface before anything is trained or written.
  TokenWindows data = load_training_data(o.data, tok, o.seq_len, o.format, job);
  std::vector<int64_t> eval;
  if (!o.eval_text.empty()) eval = tok.encode_long(read_text_file(o.eval_text.string()), true, job);
  job.check();

  LoraConfig cfg = o.lora;
  cfg.base_model_name_or_path = fs::absolute(o.model).string();
  if (resuming)
    cfg = load_adapter(m.model, ckpt_dir);
  else
    apply_lora(m.model, cfg, o.train.seed);
  std::vector<std::pair<std::string, at::Tensor*>> params;
  for (auto& [name, l] : lora_layers(m.model))
    for (auto& [pname, t] : l->parameters()) params.push_back({name + "." + pname, t});
  params = make_trainable(params);
  set_lora_training(m.model, true);
  m.model.set_gradient_checkpointing(o.gradient_checkpointing);

  FinetuneSummary summary;
  std::optional<LoadedModel> teacher;
  if (!o.teacher.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    ModelLoadOptions tl = lo;  // the student's dtype and device, no adapter
    tl.adapter.clear();
    teacher.emplace(load_model(o.teacher, tl, job));
    summary.teacher_load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& [n, t] : teacher->model.named_parameters())
      summary.teacher_bytes += t->numel() * static_cast<int64_t>(t->element_size());
  }
  summary.output = o.output;
  summary.data_tokens = data.tokens();
  for (auto& [n, t] : params) summary.trainable_parameters += t->numel();
  if (on_start) on_start(summary);

  Trainer trainer(m.model, params, o.train, data, eval);
  if (teacher) trainer.set_teacher(&teacher->model, summary.teacher_bytes);
  if (resuming) trainer.load_state(ckpt_dir);
  std::ofstream log(out.path() / "training_log.jsonl", resuming ? std::ios::app : std::ios::trunc);
  int64_t checkpointed = 0;  // the step of the last checkpoint this run wrote
  try {
    trainer.run(
        [&](const TrainEvent& e) {
          log << e.to_json().dump() << "\n" << std::flush;
          if (e.eval_ppl) summary.eval_ppl = e.eval_ppl;
          if (e.eval_kl) summary.eval_kl = e.eval_kl;
          summary.teacher_seconds = e.teacher_seconds;
          if (on_event) on_event(e);
        },
        job,
        [&](int64_t step) {
          save_adapter(m.model, cfg, ckpt_dir);
          trainer.save_state(ckpt_dir);
          checkpointed = step;
        });
  } catch (const InputError& e) {
    // A run that diverged keeps its last good checkpoint (resumable with a lower rate).
    if (!checkpointed) throw;
    log.close();
    out.commit();
    throw InputError(std::string(e.what()) + "; the last good checkpoint (step " +
                     std::to_string(checkpointed) + ") is in " +
                     (o.output / "checkpoint").string() + " (continue it with --resume)");
  } catch (const Cancelled&) {
    if (checkpointed) log.close(), out.commit();
    throw;
  }
  set_lora_training(m.model, false);
  save_adapter(m.model, cfg, out.path());
  log.close();
  out.commit();
  summary.steps = trainer.step();
  return summary;
}

}  // namespace hqq
