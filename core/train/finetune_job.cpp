#include "core/train/finetune_job.h"

#include <chrono>
#include <fstream>

#include "core/base/json_file.h"
#include "core/load/model_loader.h"

namespace hqq {

namespace fs = std::filesystem;

FinetuneSummary run_finetune(const FinetuneOptions& o,
                             const std::function<void(const TrainEvent&)>& on_event,
                             const JobContext& job,
                             const std::function<void(const FinetuneSummary&)>& on_start) {
  const fs::path ckpt_dir = o.output / "checkpoint";
  ModelLoadOptions lo;
  lo.dtype = o.compute_dtype;
  lo.device = o.device;
  LoadedModel m = load_model(o.model, lo, job);
  const Tokenizer& tok = m.require_tokenizer();
  // Data problems (a broken JSONL line) should surface before anything is trained or written.
  TokenWindows data = load_training_data(o.data, tok, o.seq_len, o.format);
  std::vector<int64_t> eval;
  if (!o.eval_text.empty()) eval = tok.encode(read_text_file(o.eval_text.string()), true);

  LoraConfig cfg = o.lora;
  cfg.base_model_name_or_path = fs::absolute(o.model).string();
  const bool resuming = o.resume && fs::exists(ckpt_dir / "trainer_state.json");
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
  fs::create_directories(o.output);
  std::ofstream log(o.output / "training_log.jsonl", resuming ? std::ios::app : std::ios::trunc);
  trainer.run(
      [&](const TrainEvent& e) {
        log << e.to_json().dump() << "\n" << std::flush;
        if (e.eval_ppl) summary.eval_ppl = e.eval_ppl;
        if (e.eval_kl) summary.eval_kl = e.eval_kl;
        summary.teacher_seconds = e.teacher_seconds;
        if (on_event) on_event(e);
      },
      job,
      [&](int64_t) {
        save_adapter(m.model, cfg, ckpt_dir);
        trainer.save_state(ckpt_dir);
      });
  set_lora_training(m.model, false);
  save_adapter(m.model, cfg, o.output);
  summary.steps = trainer.step();
  return summary;
}

}  // namespace hqq
