#include "core/quant/kl_probe.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/base/error.h"
#include "core/base/on_exit.h"

namespace hqq {

KlProbe::KlProbe(const std::filesystem::path& dir, const ModelConfig& config,
                 const KlProbeOptions& o, const JobContext& job)
    : ckpt_(Checkpoint::open(dir)), model_(LlamaModel::load(ckpt_, config, {}, job)) {
  if (o.sequences < 1 || o.length < 2)
    throw InputError("the KL probe needs at least one sequence of two tokens");
  at::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const int64_t bos = config.bos_token_id.value_or(1);
  tokens_ = at::full({o.sequences, o.length}, bos, at::kLong);
  KvCache cache = model_.make_cache(o.sequences, o.length);
  at::Tensor next = tokens_.narrow(1, 0, 1);
  for (int64_t t = 1; t < o.length; ++t) {
    job.check();
    const at::Tensor logits = model_.forward(next, &cache).select(1, 0).to(at::kFloat);
    next = at::multinomial(at::softmax(logits, -1), 1, /*replacement=*/false, gen);
    tokens_.narrow(1, t, 1).copy_(next);
  }
  ref_logp_ = logp();
}

double KlProbe::kl_with(const std::string& module, const at::Tensor& w_hat) {
  at::NoGradGuard no_grad;
  for (auto& s : model_.linear_slots()) {
    if (s.name != module) continue;
    auto* dense = dynamic_cast<DenseLinear*>(s.slot->get());
    if (!dense) throw Error("KL probe: '" + module + "' is not a dense layer");
    std::unique_ptr<Linear> original = std::move(*s.slot);
    *s.slot = std::make_unique<DenseLinear>(w_hat.to(model_.dtype()), dense->bias());
    const OnExit restore([&] { *s.slot = std::move(original); });
    return kl_of(logp());
  }
  throw Error("KL probe: the model has no layer '" + module + "'");
}

double KlProbe::kl_with_head(const at::Tensor& w_hat) {
  if (!model_.config().tie_word_embeddings) return kl_with("lm_head", w_hat);
  return kl_with_embedding(w_hat);  // tied: retie_embeddings makes the head follow it
}

double KlProbe::kl_with_embedding(const at::Tensor& w_hat) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : model_.named_parameters()) {
    if (name != "model.embed_tokens.weight") continue;
    const at::Tensor original = *t;
    *t = w_hat.to(model_.dtype());
    model_.retie_embeddings();
    const OnExit restore([&] {
      *t = original;
      model_.retie_embeddings();
    });
    return kl_of(logp());
  }
  throw Error("KL probe: the model has no dense embedding matrix");
}

at::Tensor KlProbe::logp() {
  return at::log_softmax(model_.forward(tokens_).to(at::kFloat), -1);
}

double KlProbe::kl_of(const at::Tensor& logp) const {
  // KL(ref ‖ model) per position, in double; every position predicts a next token.
  const at::Tensor kl = (ref_logp_.exp() * (ref_logp_ - logp)).sum(-1).to(at::kDouble);
  return kl.mean().item<double>();
}

}  // namespace hqq
