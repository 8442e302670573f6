#include "core/load/model_loader.h"

#include "core/base/error.h"
#include "core/model/lora.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/quant_plan.h"
#include "core/quant/twolevel_linear.h"

namespace hqq {

at::ScalarType parse_compute_dtype(const std::string& name, const ModelConfig& config) {
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  if (name == "auto") {
    if (config.torch_dtype == "bfloat16") return at::kBFloat16;
    // fp16 weights: fp32 keeps every bit, but doubles the memory; past 2B parameters (a 7B
    // model would need 28 GB) bf16 is the only practical choice on CPU.
    if (config.torch_dtype == "float16" && config.parameter_count() > 2'000'000'000)
      return at::kBFloat16;
    return at::kFloat;
  }
  throw InputError("unknown dtype '" + name + "' (use auto, float32, bfloat16 or float16)");
}

const Tokenizer& LoadedModel::require_tokenizer() const {
  if (!tokenizer) throw InputError(tokenizer_problem);
  return *tokenizer;
}

namespace {

// The lm_head of a decode step is a GEMV over vocab × hidden weights, the largest single read of
// a quantized model's token (131 MB in bf16 for a 32k × 2048 head): 8 bits halve it.
void quantize_lm_head(LlamaModel& model, int bits, const std::filesystem::path& dir) {
  const QuantConfig cfg = lm_head_quant_config(bits, "--lm-head-bits");
  for (LinearSlot& slot : model.linear_slots()) {
    if (slot.name != "lm_head") continue;
    const auto* dense = dynamic_cast<const DenseLinear*>(slot.slot->get());
    if (!dense) return;  // already quantized in the folder
    if (dense->in_features() % cfg.group_size != 0)
      fail_input(dir.string(),
                 "--lm-head-bits: hidden size " + std::to_string(dense->in_features()) +
                     " is not a multiple of the group size " + std::to_string(cfg.group_size));
    const QuantizedTensor q = quantize(dense->weight().to(at::kFloat), cfg);
    *slot.slot = std::make_unique<HqqLinear>(q, dense->bias(), model.dtype());
  }
}

}  // namespace

LoadedModel load_model(const std::filesystem::path& dir, const ModelLoadOptions& o,
                       const JobContext& job) {
  const Device device = resolve_device(o.device);
  require_runnable(device);
  ModelConfig config = load_model_config(dir);
  LoadOptions opts;
  opts.dtype = parse_compute_dtype(o.dtype, config);
  // libtorch 1.13 has no float16 matmul on CPU: say so before any layer runs into it.
  if (opts.dtype == at::kHalf && !device.is_cuda())
    throw InputError("--dtype " + o.dtype +
                     ": float16 compute is not supported on CPU (libtorch has no float16 matrix "
                     "product there); use float32 or bfloat16");
  // Quantized folders hold HQQ layers (W_q, scale, zero...), others dense weights; any mix loads.
  opts.linear_factory = [](const Checkpoint& ckpt, const std::string& prefix, int64_t out,
                           int64_t in, bool bias, at::ScalarType dtype) -> std::unique_ptr<Linear> {
    if (is_hqq_layer(ckpt, prefix)) return load_hqq_linear(ckpt, prefix, out, in, bias, dtype);
    if (is_twolevel_layer(ckpt, prefix))
      return load_twolevel_linear(ckpt, prefix, out, in, bias, dtype);
    return make_dense_linear(ckpt, prefix, out, in, bias, dtype);
  };
  Checkpoint ckpt = Checkpoint::open(dir);
  LoadedModel m{config, device, LlamaModel::load(ckpt, config, opts, job), std::nullopt, {}};
  try {
    m.tokenizer = Tokenizer::load(dir);
  } catch (const InputError& e) {
    m.tokenizer_problem = e.what();
  }
  if (m.tokenizer && m.tokenizer->vocab_size() > config.vocab_size)
    fail_input(m.tokenizer->model_path(), "has " + std::to_string(m.tokenizer->vocab_size()) +
                                              " tokens but the model's vocab_size is " +
                                              std::to_string(config.vocab_size));
  if (o.lm_head_bits != 0) quantize_lm_head(m.model, o.lm_head_bits, dir);
  if (!o.adapter.empty()) load_adapter(m.model, o.adapter);
  return m;
}

}  // namespace hqq
