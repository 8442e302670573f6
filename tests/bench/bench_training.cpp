// HQQ+ training throughput: LoRA steps on a 2-bit model of TinyLlama's layer shapes (hidden 2048,
// FFN 5632, 32/4 heads, 8 layers, vocab 32000, random weights made here, quantized 2-bit g64),
// rank 32 attention / 8 MLP, batch 1 x 256 tokens. Reports tokens/s and the process's peak RSS
// during the steps (reset first through /proc/self/clear_refs).
#include <benchmark/benchmark.h>

#include <fstream>

#include "core/io/checkpoint.h"
#include "core/quant/hqq_linear.h"
#include "core/model/lora.h"
#include "core/base/memory_stats.h"
#include "core/load/model_loader.h"
#include "core/quant/quantize_model.h"
#include "core/base/threads.h"
#include "core/train/trainer.h"
#include "tests/bench/bench_checkpoints.h"
#include "tests/test_support.h"

namespace {

using namespace hqq;

void BM_LoraStepOn2BitModel(benchmark::State& state) {
  set_compute_threads(0);
  test::TempDir dir;
  bench::Shape s;
  bench::write_random_checkpoint(dir / "src", s);
  QuantizeOptions qo;
  qo.source = dir / "src";
  qo.output = dir / "q";
  qo.plan = plan_from_preset("2bit-g64");
  quantize_checkpoint(qo);
  Checkpoint ckpt = Checkpoint::open(dir / "q");
  LoadOptions lo;
  lo.linear_factory = [](const Checkpoint& c, const std::string& p, int64_t out, int64_t in, bool b,
                         at::ScalarType t) -> std::unique_ptr<Linear> {
    if (is_hqq_layer(c, p)) return load_hqq_linear(c, p, out, in, b, t);
    return make_dense_linear(c, p, out, in, b, t);
  };
  LlamaModel model = LlamaModel::load(ckpt, load_model_config(dir / "q"), lo);
  LoraConfig cfg;
  cfg.rank_pattern["self_attn"] = 32;
  cfg.rank_pattern["mlp"] = 8;
  apply_lora(model, cfg);
  std::vector<at::Tensor> params;
  for (auto& [name, l] : lora_layers(model))
    for (auto& [p, t] : l->parameters()) params.push_back(*t);
  AdamW opt(params, std::vector<bool>(params.size(), true), {});
  model.set_gradient_checkpointing(state.range(0) == 1);
  std::ofstream("/proc/self/clear_refs") << "5";
  for (auto _ : state) {
    at::Tensor x = at::randint(0, s.vocab, {1, 256}, at::kLong);
    at::Tensor logits = model.forward(x);
    at::cross_entropy_loss(logits.view({-1, logits.size(-1)}), x.view({-1})).backward();
    opt.step(1e-4);
    opt.zero_grad();
  }
  state.counters["tokens/s"] =
      benchmark::Counter(256, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_rss_GB"] = double(memory_stats().peak_rss_bytes) / 1e9;
  state.SetLabel(state.range(0) ? "gradient checkpointing" : "");
}
BENCHMARK(BM_LoraStepOn2BitModel)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
