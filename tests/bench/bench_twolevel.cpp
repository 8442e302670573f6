// Decode (1 row) and prefill (128 rows) products of the two-level formats on 4096×4096, to set
// beside BM_LowbitGemv/4096/4096/2 (today's 2-bit g64) and BM_DenseBf16Gemv/4096/4096 in the
// same binary: run with
// --benchmark_filter='TwoLevel|LowbitGemv/4096/4096/2|DenseBf16Gemv/4096/4096'. Weights cycle
// through enough copies (≥ 4× the last-level cache) to stream from DRAM. Counter weights_GB/s:
// stored bytes (codes + meta + fp16 pairs) read per second.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "core/base/threads.h"
#include "core/quant/quant_preset.h"
#include "core/quant/twolevel_linear.h"

namespace {

using namespace hqq;

// The layer's speed does not depend on the codes' values: random codes and meta, no solver.
TwoLevelPacked random_packed(const TwoLevelParams& p, int64_t out, int64_t in) {
  TwoLevelTensor t;
  t.params = p;
  t.out = out;
  t.in = in;
  t.codes = at::randint(0, 1 << p.nbits, {out, in}, at::kByte);
  t.scale_q = at::randint(1, 1 << p.scale_bits, {out, in / p.group}, at::kByte);
  t.zero_q = at::randint(0, 1 << p.zero_bits, {out, in / p.group}, at::kByte);
  t.super = (at::rand({out, in / p.super_group, 2}) * 0.01).to(at::kHalf);
  return pack_twolevel(t);
}

// Each layer copies the packed tensors into its own buffers: copies of one random layer stream
// like distinct layers (packing hundreds of them took minutes of set-up).
std::unique_ptr<TwoLevelLinear> layer_of(const TwoLevelPacked& packed) {
  return std::make_unique<TwoLevelLinear>(packed, at::Tensor(), at::kBFloat16);
}

const TwoLevelPreset& preset(int64_t i) {
  return twolevel_presets()[static_cast<size_t>(i)];
}

TwoLevelParams params_of(const TwoLevelPreset& p) {
  return {p.bits, p.group_size, p.scale_bits, p.zero_bits, p.super_group};
}

void BM_TwoLevelGemv(benchmark::State& state) {
  set_compute_threads(0);
  const TwoLevelParams p = params_of(preset(state.range(0)));
  const int64_t out = 4096, in = 4096;
  const int64_t bytes = twolevel_layer_bytes(p, out, in);
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const int64_t copies = std::max<int64_t>(2, 4 * (l3 > 0 ? l3 : 64 << 20) / bytes + 1);
  at::manual_seed(0);
  const TwoLevelPacked packed = random_packed(p, out, in);
  std::vector<std::unique_ptr<TwoLevelLinear>> ls;
  for (int64_t i = 0; i < copies; ++i) ls.push_back(layer_of(packed));
  at::Tensor x = at::randn({1, in}).to(at::kBFloat16);
  size_t i = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ls[i]->forward(x));
    i = (i + 1) % ls.size();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["weights_GB/s"] = double(bytes) * double(state.iterations()) / s / 1e9;
  state.counters["bits/weight"] = twolevel_bits_per_weight(p);
  state.SetLabel(preset(state.range(0)).name + " " + kernels::twolevel_gemv_isa());
}

void BM_TwoLevelPrefill(benchmark::State& state) {
  set_compute_threads(0);
  const TwoLevelParams p = params_of(preset(state.range(0)));
  at::manual_seed(0);
  auto layer = layer_of(random_packed(p, 4096, 4096));
  at::Tensor x = at::randn({128, 4096}).to(at::kBFloat16);
  for (auto _ : state) benchmark::DoNotOptimize(layer->forward(x));
  state.counters["tokens/s"] =
      benchmark::Counter(128, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(preset(state.range(0)).name + " tiled");
}

void every_preset(benchmark::internal::Benchmark* b) {
  for (int64_t i = 0; i < static_cast<int64_t>(twolevel_presets().size()); ++i) b->Arg(i);
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_TwoLevelGemv)->Apply(every_preset);
BENCHMARK(BM_TwoLevelPrefill)->Apply(every_preset)->Unit(benchmark::kMillisecond);

}  // namespace
