// Quantizer benchmarks: time and relative Frobenius error of each optimizer on 4096x4096 and
// 4096x11008 Gaussian matrices (N(0, 0.02²) stored in fp16, as the reference figures were made).
#include <benchmark/benchmark.h>

#include <fstream>
#include <map>

#include "core/quant/hqq_quantizer.h"
#include "core/quant/quantize_model.h"
#include "core/base/threads.h"
#include "tests/bench/bench_checkpoints.h"
#include "tests/test_support.h"

namespace {

using namespace hqq;

const at::Tensor& matrix(int64_t rows, int64_t cols) {
  static std::map<std::pair<int64_t, int64_t>, at::Tensor> cache;  // made once per process
  auto key = std::make_pair(rows, cols);
  if (!cache.count(key)) {
    at::manual_seed(0);
    cache[key] = (at::randn({rows, cols}) * 0.02).to(at::kHalf);
  }
  return cache[key];
}

// Args: rows, cols, nbits, group, optimizer (0 off, 1 reference, 2 improved), engine (0 fused, 1
// aten)
void BM_Quantize(benchmark::State& state) {
  set_compute_threads(0);
  const at::Tensor& w = matrix(state.range(0), state.range(1));
  QuantConfig c;
  c.nbits = static_cast<int>(state.range(2));
  c.group_size = state.range(3);
  c.optimizer = static_cast<HqqOptimizer>(state.range(4));
  c.engine = state.range(5) ? HqqEngine::Aten : HqqEngine::Fused;
  c.round_zero = c.nbits == 4;  // the reference config's default
  QuantizedTensor q;
  for (auto _ : state) q = quantize(w, c);
  state.counters["rel_error"] = relative_error(w, dequantize(q, at::kFloat));
  state.counters["iters"] = q.iterations;
  state.SetLabel(std::string(optimizer_name(c.optimizer)) +
                 (c.engine == HqqEngine::Aten ? "/aten" : "/fused"));
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t cols : {4096, 11008})
    for (int bits : {1, 2, 4})
      for (int opt : {0, 1, 2}) b->Args({4096, cols, bits, 64, opt, 0});
  // The exact-op engine, to compare speed with the fused one at equal error.
  for (int bits : {1, 2, 4}) b->Args({4096, 4096, bits, 64, 1, 1});
}
BENCHMARK(BM_Quantize)->Apply(Shapes)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

namespace {

// Quantizes a 7B-shaped checkpoint (Llama-2-7B layer shapes, random bf16 weights, 13.5 GB made
// here) end to end. The peak RSS is reset (/proc/self/clear_refs) after the checkpoint is made,
// so that the figure is the quantization's own. Minutes and 27 GB of disk: run it explicitly
// with --benchmark_filter=Quantize7B.
void BM_Quantize7BCheckpoint(benchmark::State& state) {
  set_compute_threads(0);
  hqq::test::TempDir dir;
  hqq::bench::Shape s{32000, 4096, 11008, 32, 32, 32, 4096, false};
  hqq::bench::write_random_checkpoint(dir / "src", s);
  for (auto _ : state) {
    std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
    hqq::QuantizeOptions o;
    o.source = dir / "src";
    o.output = dir / "out";
    o.overwrite = true;
    o.plan = hqq::plan_from_preset(state.range(0) == 4 ? "4bit-g64" : "2bit-g64");
    hqq::QuantizeSummary r = hqq::quantize_checkpoint(o);
    state.SetIterationTime(r.seconds);
    state.counters["peak_rss_GB"] = double(r.peak_rss_bytes) / 1e9;
    state.counters["output_GB"] = double(r.output_bytes) / 1e9;
    state.counters["bits_per_weight"] = r.bits_per_weight;
  }
}
BENCHMARK(BM_Quantize7BCheckpoint)
    ->Arg(4)
    ->Arg(2)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
