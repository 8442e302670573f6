// Engine benchmarks: prefill and decode throughput on a model of TinyLlama's layer shapes
// (hidden 2048, FFN 5632, 32 heads / 4 KV heads, 8 layers, random bf16 weights made here), and
// the model-card read (`hqq info`) on a 7B-shaped 13.5 GB checkpoint that is never read.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "core/base/threads.h"
#include "core/io/checkpoint.h"
#include "core/load/model_loader.h"
#include "core/model/decode_step.h"
#include "core/model/llama_model.h"
#include "core/quant/model_card.h"
#include "core/quant/quant_plan.h"
#include "core/quant/quantize_model.h"
#include "tests/bench/bench_checkpoints.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace hqq;

struct Fixture {
  test::TempDir dir;
  bench::Shape shape;
  Fixture() { bench::write_random_checkpoint(dir.path(), shape); }
};

Fixture& fixture() {
  static Fixture f;  // made once per process: ~1 GB of random weights
  return f;
}

LlamaModel load(at::ScalarType dtype) {
  LoadOptions o;
  o.dtype = dtype;
  return LlamaModel::load(Checkpoint::open(fixture().dir.path()),
                          load_model_config(fixture().dir.path()), o);
}

at::ScalarType dtype_arg(int64_t a) {
  return a == 0 ? at::kBFloat16 : at::kFloat;
}

void BM_Prefill(benchmark::State& state) {
  set_compute_threads(0);
  LlamaModel model = load(dtype_arg(state.range(0)));
  const int64_t T = state.range(1);
  at::Tensor tokens = at::randint(0, 32000, {1, T}, at::kLong);
  for (auto _ : state) {
    KvCache cache = model.make_cache(1, T);
    benchmark::DoNotOptimize(model.forward(tokens, &cache));
  }
  state.counters["tokens/s"] =
      benchmark::Counter(double(T), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(state.range(0) == 0 ? "bf16" : "fp32");
}
BENCHMARK(BM_Prefill)
    ->Args({0, 128})
    ->Args({1, 128})
    ->Args({0, 512})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Decode(benchmark::State& state) {
  set_compute_threads(0);
  LlamaModel model = load(dtype_arg(state.range(0)));
  const int64_t ctx = state.range(1);
  KvCache cache = model.make_cache(1, ctx + 1);
  model.forward(at::randint(0, 32000, {1, ctx}, at::kLong), &cache);
  at::Tensor one = at::randint(0, 32000, {1, 1}, at::kLong);
  for (auto _ : state) {
    cache.truncate(ctx);
    benchmark::DoNotOptimize(model.forward(one, &cache));
  }
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(state.range(0) == 0 ? "bf16" : "fp32");
}
BENCHMARK(BM_Decode)
    ->Args({0, 128})
    ->Args({1, 128})
    ->Args({0, 1024})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The same model quantized (2 or 4 bits, group 64, layers' projections only: embeddings and
// lm_head stay bf16, as HQQ leaves them), decoding on the fused low-bit kernels. Min/max
// rounding (optimizer off) makes the model quickly; the codes' values do not change the speed.
const fs::path& quantized_fixture(int bits) {
  static std::map<int, std::unique_ptr<test::TempDir>> dirs;
  auto& d = dirs[bits];
  if (!d) {
    d = std::make_unique<test::TempDir>();
    QuantizeOptions o;
    o.source = fixture().dir.path();
    o.output = d->path() / "q";
    o.plan = plan_from_preset(bits == 4 ? "4bit-g64" : "2bit-g64");
    o.plan.defaults.optimizer = HqqOptimizer::Off;
    quantize_checkpoint(o);
  }
  static std::map<int, fs::path> paths;
  return paths[bits] = d->path() / "q";
}

void BM_DecodeQuantized(benchmark::State& state) {
  set_compute_threads(0);
  const int bits = static_cast<int>(state.range(0));
  const int64_t ctx = state.range(1);
  LoadedModel m = load_model(quantized_fixture(bits), {.dtype = "bfloat16"});
  KvCache cache = m.model.make_cache(1, ctx + 1);
  m.model.forward(at::randint(0, 32000, {1, ctx}, at::kLong), &cache);
  at::Tensor one = at::randint(0, 32000, {1, 1}, at::kLong);
  for (auto _ : state) {
    cache.truncate(ctx);
    benchmark::DoNotOptimize(m.model.forward(one, &cache));
  }
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::to_string(bits) + "-bit g64, bf16 compute");
}
BENCHMARK(BM_DecodeQuantized)
    ->Args({2, 128})
    ->Args({4, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The fused one-token step generate() uses (LlamaModel::decode, decode_step.h): bits 16 is the
// bf16 model; range(2) = 8 quantizes the lm_head to 8 bits at load (--lm-head-bits 8).
void BM_DecodeFused(benchmark::State& state) {
  set_compute_threads(0);
  const int bits = static_cast<int>(state.range(0));
  const int64_t ctx = state.range(1);
  const int head = static_cast<int>(state.range(2));
  LoadedModel m = load_model(bits == 16 ? fixture().dir.path() : quantized_fixture(bits),
                             {.dtype = "bfloat16", .lm_head_bits = head == 8 ? 8 : 0});
  KvCache cache = m.model.make_cache(1, ctx + 1);
  m.model.forward(at::randint(0, 32000, {1, ctx}, at::kLong), &cache);
  DecodeWorkspace ws(m.model);
  for (auto _ : state) {
    cache.truncate(ctx);
    benchmark::DoNotOptimize(m.model.decode(7, cache, ws));
  }
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel((bits == 16 ? std::string("bf16") : std::to_string(bits) + "-bit g64") +
                 (head == 8 ? ", 8-bit lm_head" : ", bf16 lm_head"));
}
BENCHMARK(BM_DecodeFused)
    ->Args({16, 128, 16})
    ->Args({4, 128, 16})
    ->Args({2, 128, 16})
    ->Args({4, 128, 8})
    ->Args({2, 128, 8})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_PrefillQuantized(benchmark::State& state) {
  set_compute_threads(0);
  const int bits = static_cast<int>(state.range(0));
  LoadedModel m = load_model(quantized_fixture(bits), {.dtype = "bfloat16"});
  const int64_t T = state.range(1);
  at::Tensor tokens = at::randint(0, 32000, {1, T}, at::kLong);
  for (auto _ : state) {
    KvCache cache = m.model.make_cache(1, T);
    benchmark::DoNotOptimize(m.model.forward(tokens, &cache));
  }
  state.counters["tokens/s"] =
      benchmark::Counter(double(T), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::to_string(bits) + "-bit g64, bf16 compute");
}
BENCHMARK(BM_PrefillQuantized)
    ->Args({2, 128})
    ->Args({4, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_InfoOn7BCheckpoint(benchmark::State& state) {
  test::TempDir dir;
  bench::Shape s{32000, 4096, 11008, 32, 32, 32, 4096, false};
  bench::write_sparse_checkpoint(dir.path(), s, 3);
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) bytes += e.file_size();
  for (auto _ : state) benchmark::DoNotOptimize(describe_model(dir.path()));
  state.counters["checkpoint_GB"] = double(bytes) / 1e9;
}
BENCHMARK(BM_InfoOn7BCheckpoint)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
