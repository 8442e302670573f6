// Quantizer benchmarks: time and relative Frobenius error of each optimizer on 4096x4096 and
// 4096x11008 Gaussian matrices (N(0, 0.02²) stored in fp16, as the reference figures were made).
#include <benchmark/benchmark.h>

#include <map>

#include "core/hqq_quantizer.h"
#include "core/threads.h"

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
