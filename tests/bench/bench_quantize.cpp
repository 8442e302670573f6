// Quantizer benchmarks: time and relative Frobenius error of each optimizer on 4096x4096 and
// 4096x11008 Gaussian matrices (N(0, 0.02²) stored in fp16, as the reference figures were made).
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/base/threads.h"
#include "core/quant/hqq_quantizer.h"
#include "core/quant/quantize_model.h"
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

double cpu_seconds(const timeval& t) {
  return double(t.tv_sec) + double(t.tv_usec) / 1e6;
}

// Quantizes a 7B-shaped checkpoint (Llama-2-7B layer shapes, random bf16 weights, 13.5 GB made
// here) end to end. The peak RSS is reset (/proc/self/clear_refs) after the checkpoint is made,
// so that the figure is the quantization's own; user_s and sys_s are this process's CPU time
// over the quantization alone (the machine may be shared: wall time alone says little). Minutes
// and 27 GB of disk: run it explicitly with --benchmark_filter=Quantize7B.
// Figures before and after the streaming rewrite (issue 14): docs/RESULTS.md, "Quantization
// speed". HQQ_BENCH_LAYERS=n quantizes only n decoder layers (for iterating on the per-layer cost);
// HQQ_BENCH_CHECKPOINT_DIR=dir makes the source there once, reuses it on later runs and keeps
// the output (dir/out-<bits>-<layers>) for comparison.
void BM_Quantize7BCheckpoint(benchmark::State& state) {
  namespace fs = std::filesystem;
  set_compute_threads(0);
  hqq::test::TempDir tmp;
  const char* keep = std::getenv("HQQ_BENCH_CHECKPOINT_DIR");
  const char* layers_env = std::getenv("HQQ_BENCH_LAYERS");
  const int64_t layers = layers_env ? std::atoll(layers_env) : 32;
  const fs::path dir = keep ? fs::path(keep) : tmp.path();
  const fs::path src = dir / ("src-" + std::to_string(layers));
  hqq::bench::Shape s{32000, 4096, 11008, layers, 32, 32, 4096, false};
  if (!keep || !fs::exists(src / "model.safetensors")) hqq::bench::write_random_checkpoint(src, s);
  for (auto _ : state) {
    std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
    hqq::QuantizeOptions o;
    o.source = src;
    o.output = dir / ("out-" + std::to_string(state.range(0)) + "-" + std::to_string(layers));
    o.overwrite = true;
    o.plan = hqq::plan_from_preset(state.range(0) == 4 ? "4bit-g64" : "2bit-g64");
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    hqq::QuantizeSummary r = hqq::quantize_checkpoint(o);
    ::getrusage(RUSAGE_SELF, &after);
    state.SetIterationTime(r.seconds);
    state.counters["user_s"] = cpu_seconds(after.ru_utime) - cpu_seconds(before.ru_utime);
    state.counters["sys_s"] = cpu_seconds(after.ru_stime) - cpu_seconds(before.ru_stime);
    state.counters["minor_faults"] = double(after.ru_minflt - before.ru_minflt);
    state.counters["major_faults"] = double(after.ru_majflt - before.ru_majflt);
    state.counters["peak_rss_GB"] = double(r.peak_rss_bytes) / 1e9;
    state.counters["output_GB"] = double(r.output_bytes) / 1e9;
    state.counters["bits_per_weight"] = r.bits_per_weight;
    // Where the wall time went (QuantizeTimings; read_s is the reader thread's, overlapped).
    const hqq::QuantizeTimings& t = r.timings;
    for (const auto& [name, v] : {std::pair<const char*, double>{"read_s", t.read_s},
                                  {"read_wait_s", t.read_wait_s},
                                  {"solve_s", t.solve_s},
                                  {"stats_s", t.stats_s},
                                  {"pack_s", t.pack_s},
                                  {"copy_s", t.copy_s},
                                  {"write_s", t.write_s}})
      state.counters[name] = v;
  }
}
BENCHMARK(BM_Quantize7BCheckpoint)
    ->Arg(4)
    ->Arg(2)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
