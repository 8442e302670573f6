#include "core/train/trainer.h"

#include <chrono>
#include <cmath>
#include <thread>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/base/memory_stats.h"
#include "core/generate/kl_divergence.h"
#include "core/generate/perplexity.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"
#include "core/train/distill.h"

namespace hqq {

namespace fs = std::filesystem;

nlohmann::json TrainOptions::to_json() const {
  return {{"steps", steps},
          {"batch_size", batch_size},
          {"grad_accum", grad_accum},
          {"lr", lr},
          {"min_lr_ratio", min_lr_ratio},
          {"warmup_steps", warmup_steps},
          {"schedule", schedule},
          {"beta1", adamw.beta1},
          {"beta2", adamw.beta2},
          {"eps", adamw.eps},
          {"weight_decay", adamw.weight_decay},
          {"clip_norm", clip_norm},
          {"eval_every", eval_every},
          {"eval_max_tokens", eval_max_tokens},
          {"save_every", save_every},
          {"seed", seed},
          {"distill_weight", distill_weight},
          {"distill_topk", distill_topk}};
}

nlohmann::json TrainEvent::to_json() const {
  nlohmann::json j = {{"step", step},
                      {"steps", steps},
                      {"loss", loss},
                      {"lr", lr},
                      {"grad_norm", grad_norm},
                      {"tokens_per_second", tokens_per_second},
                      {"tokens", tokens},
                      {"elapsed_seconds", elapsed_seconds},
                      {"eta_seconds", eta_seconds},
                      {"rss_bytes", rss_bytes}};
  if (eval_ppl) j["eval_ppl"] = *eval_ppl;
  if (ce_loss) j["ce_loss"] = *ce_loss;
  if (distill_kl) {
    j["distill_kl"] = *distill_kl;
    j["teacher_seconds"] = teacher_seconds;
    j["teacher_bytes"] = teacher_bytes;
  }
  if (eval_kl) j["eval_kl"] = *eval_kl;
  return j;
}

double learning_rate(const TrainOptions& o, int64_t step) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  if (o.schedule == "constant") return o.lr;
  const double span = std::max<int64_t>(1, o.steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double floor = o.lr * o.min_lr_ratio;
  if (o.schedule == "linear") return floor + (o.lr - floor) * (1 - progress);
  if (o.schedule == "cosine") return floor + (o.lr - floor) * 0.5 * (1 + std::cos(M_PI * progress));
  throw InputError("unknown schedule '" + o.schedule + "' (cosine, linear, constant)");
}

std::vector<std::pair<std::string, at::Tensor*>> make_trainable(
    std::vector<std::pair<std::string, at::Tensor*>> params) {
  for (auto& [name, t] : params) *t = t->detach().to(at::kFloat).clone().set_requires_grad(true);
  return params;
}

namespace {
std::vector<bool> decay_flags(const std::vector<std::pair<std::string, at::Tensor*>>& params) {
  std::vector<bool> d;
  for (const auto& [name, t] : params) d.push_back(t->dim() >= 2);  // no decay for norms and biases
  return d;
}
std::vector<at::Tensor> tensors(const std::vector<std::pair<std::string, at::Tensor*>>& params) {
  std::vector<at::Tensor> v;
  for (const auto& [name, t] : params) v.push_back(*t);
  return v;
}
}  // namespace

Trainer::Trainer(LlamaModel& model, std::vector<std::pair<std::string, at::Tensor*>> trainable,
                 TrainOptions opts, const TokenWindows& train, std::vector<int64_t> eval_tokens)
    : model_(model),
      trainable_(std::move(trainable)),
      params_(tensors(trainable_)),
      opts_(std::move(opts)),
      train_(train),
      eval_tokens_(std::move(eval_tokens)),
      optimizer_(params_, decay_flags(trainable_), opts_.adamw) {
  if (params_.empty()) throw InputError("nothing to train: no trainable parameters");
  for (const auto& p : params_)
    if (!p.requires_grad()) throw Error("trainable parameters must require grad");
  if (opts_.steps < 1 || opts_.batch_size < 1 || opts_.grad_accum < 1)
    throw InputError("steps, batch and accumulation must be >= 1");
  if (!(opts_.lr > 0)) throw InputError("learning rate must be positive");
  learning_rate(opts_, 0);  // validates the schedule name
  if (train.window > model.config().max_position_embeddings)
    throw InputError("the training window exceeds the model's maximum positions");
}

void Trainer::set_teacher(const LlamaModel* teacher, int64_t teacher_bytes) {
  if (teacher && teacher->config().vocab_size != model_.config().vocab_size)
    throw InputError("the teacher's vocabulary (" + std::to_string(teacher->config().vocab_size) +
                     " tokens) differs from the model's (" +
                     std::to_string(model_.config().vocab_size) + ")");
  if (!(opts_.distill_weight >= 0 && opts_.distill_weight <= 1))
    throw InputError("the distillation weight must be in [0, 1]");
  teacher_ = teacher;
  teacher_bytes_ = teacher_bytes;
}

std::pair<double, double> Trainer::evaluate_with_kl() const {
  if (!teacher_ || eval_tokens_.empty()) return {evaluate(), std::nan("")};
  std::vector<int64_t> toks = eval_tokens_;
  if (opts_.eval_max_tokens > 0 && static_cast<int64_t>(toks.size()) > opts_.eval_max_tokens)
    toks.resize(static_cast<size_t>(opts_.eval_max_tokens));
  PerplexityOptions p;
  p.ctx = std::min<int64_t>(train_.window, static_cast<int64_t>(toks.size()));
  p.batch = 4;
  LiveReference ref(*teacher_, first_scored_position(p));
  PerplexityWithKl r = perplexity_with_reference(model_, toks, p, ref);
  return {r.ppl.ppl, r.kl.mean_kl};
}

double Trainer::evaluate() const {
  if (eval_tokens_.empty()) return std::nan("");
  at::NoGradGuard no_grad;
  std::vector<int64_t> toks = eval_tokens_;
  if (opts_.eval_max_tokens > 0 && static_cast<int64_t>(toks.size()) > opts_.eval_max_tokens)
    toks.resize(static_cast<size_t>(opts_.eval_max_tokens));
  PerplexityOptions p;
  p.ctx = std::min<int64_t>(train_.window, static_cast<int64_t>(toks.size()));
  p.batch = 4;
  return perplexity(model_, toks, p).ppl;
}

void Trainer::run(const EventFn& on_event, const JobContext& job,
                  const std::function<void(int64_t)>& checkpoint) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const int64_t first = step_;
  while (step_ < opts_.steps) {
    job.check();  // waits while paused
    const auto t0 = Clock::now();
    // Batches depend only on (seed, step): a resumed run sees exactly the data it would have.
    std::mt19937_64 rng(opts_.seed * 1000003ull + static_cast<uint64_t>(step_));
    double loss_sum = 0, ce_sum = 0, kl_sum = 0;
    for (int64_t micro = 0; micro < opts_.grad_accum; ++micro) {
      if (micro > 0) job.check();
      auto [x, y] = train_.batch(opts_.batch_size, rng);
      at::Tensor logits = model_.forward(x);
      at::Tensor loss = at::cross_entropy_loss(logits.view({-1, logits.size(-1)}), y.view({-1}));
      if (teacher_) {
        at::Tensor teacher_logits;
        {
          const auto tt = Clock::now();
          at::NoGradGuard no_grad;
          teacher_logits = teacher_->forward(x);
          teacher_seconds_ += std::chrono::duration<double>(Clock::now() - tt).count();
        }
        // The teacher's distribution is learned where the text's next token is (y != -100).
        at::Tensor kl = distill_kl(logits, teacher_logits, y != -100, opts_.distill_topk);
        ce_sum += loss.item<double>();
        kl_sum += kl.item<double>();
        const double w = opts_.distill_weight;
        loss = w >= 1 ? kl : (1 - w) * loss + w * kl;
      }
      (loss / static_cast<double>(opts_.grad_accum)).backward();
      loss_sum += loss.item<double>();
      tokens_ += x.numel();
    }
    // A diverged run stops before its update reaches the weights (or a checkpoint): the
    // parameters stay those of the last finite step.
    if (!std::isfinite(loss_sum))
      throw InputError("training diverged at step " + std::to_string(step_ + 1) +
                       ": the loss is not finite (NaN or inf); lower the learning rate (--lr)");
    TrainEvent ev;
    if (teacher_) {
      ev.ce_loss = ce_sum / static_cast<double>(opts_.grad_accum);
      ev.distill_kl = kl_sum / static_cast<double>(opts_.grad_accum);
      ev.teacher_seconds = teacher_seconds_;
      ev.teacher_bytes = teacher_bytes_;
    }
    ev.grad_norm = clip_grad_norm(params_, opts_.clip_norm);
    if (!std::isfinite(ev.grad_norm))
      throw InputError("training diverged at step " + std::to_string(step_ + 1) +
                       ": the gradient is not finite; lower the learning rate (--lr)");
    ev.lr = learning_rate(opts_, step_);
    optimizer_.step(ev.lr);
    optimizer_.zero_grad();
    for (const auto& p : params_)
      if (!at::isfinite(p).all().item<bool>())
        throw InputError("training diverged at step " + std::to_string(step_ + 1) +
                         ": the update made the weights non-finite; lower the learning rate "
                         "(--lr)");
    ++step_;
    ev.step = step_;
    ev.steps = opts_.steps;
    ev.loss = loss_sum / static_cast<double>(opts_.grad_accum);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    ev.tokens_per_second =
        static_cast<double>(opts_.batch_size * opts_.grad_accum * train_.window) / dt;
    ev.tokens = tokens_;
    ev.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ev.eta_seconds = ev.elapsed_seconds / static_cast<double>(step_ - first) *
                     static_cast<double>(opts_.steps - step_);
    const bool eval_now =
        (opts_.eval_every > 0 && step_ % opts_.eval_every == 0) || step_ == opts_.steps;
    if (eval_now && !eval_tokens_.empty()) {
      auto [ppl, kl] = evaluate_with_kl();
      ev.eval_ppl = ppl;
      if (!std::isnan(kl)) ev.eval_kl = kl;
    }
    ev.rss_bytes = memory_stats().rss_bytes;
    if (on_event) on_event(ev);
    if (checkpoint &&
        ((opts_.save_every > 0 && step_ % opts_.save_every == 0) || step_ == opts_.steps))
      checkpoint(step_);
  }
}

void Trainer::save_state(const fs::path& dir) const {
  fs::create_directories(dir);
  save_safetensors((dir / "optimizer.safetensors").string(), optimizer_.state());
  nlohmann::json st = {{"step", step_}, {"tokens", tokens_}, {"options", opts_.to_json()}};
  write_file_atomic((dir / "trainer_state.json").string(), st.dump(2));
}

void Trainer::load_state(const fs::path& dir) {
  nlohmann::json st = read_json_file(dir / "trainer_state.json");
  auto f = SafetensorsFile::open((dir / "optimizer.safetensors").string());
  std::vector<std::pair<std::string, at::Tensor>> s;
  for (size_t i = 0; i < params_.size(); ++i)
    for (const char* k : {"m.", "v."})
      s.push_back({k + std::to_string(i), f->tensor(k + std::to_string(i))});
  step_ = st.at("step").get<int64_t>();
  tokens_ = st.value("tokens", int64_t{0});
  optimizer_.load_state(s, step_);
}

void save_model(LlamaModel& model, const fs::path& dir, at::ScalarType dtype) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : model.named_parameters())
    tensors.push_back({name, t->detach().to(dtype).contiguous()});
  save_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
  nlohmann::json cfg = model.config().raw;
  cfg["torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16"
                       : dtype == at::kHalf   ? "float16"
                                              : "float32";
  write_file_atomic((dir / "config.json").string(), cfg.dump(2));
}

}  // namespace hqq
