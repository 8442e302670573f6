// Low-bit matrix products at batch 1 (decode) and 128 rows (prefill) on LLM layer shapes:
// the fused kernel (HqqLinear on the bit-plane layout) vs libtorch bf16 dense vs dequantize +
// matmul, and a memory-bandwidth probe run in the same process. Every case cycles through
// enough copies of its weights (≥ 4× the last-level cache) that they stream from DRAM, as in
// decoding a real model, instead of being served from cache.
//
// Counters: weights_GB/s = bytes of the weight (codes + fp16 scale/zero, or bf16) read per
// second; of_probe = that / the probe's GB/s.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "core/base/threads.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/hqq_quantizer.h"
#include "kernels/decode_ops.h"

namespace {

using namespace hqq;

int64_t cache_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? l3 : 64 << 20;
}

// Enough copies to exceed 4× the last-level cache (at least 2).
int copies_for(int64_t bytes_each) {
  return static_cast<int>(
      std::max<int64_t>(2, (4 * cache_bytes()) / std::max<int64_t>(bytes_each, 1) + 1));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What DRAM delivers to this process: the best of 10 read sweeps over 16× the last-level
// cache, split over the compute threads (at::parallel_for), adding 64-bit words (integer adds
// vectorise without reassociation flags, so the loop is as wide as the compiler can make it).
double probe_gbps() {
  static const double gbps = [] {
    set_compute_threads(0);
    const int64_t words = 2 * cache_bytes();  // uint64: 16× LLC bytes
    std::vector<uint64_t> buf(static_cast<size_t>(words), 1);
    double best = 0;
    for (int i = 0; i < 10; ++i) {
      std::atomic<uint64_t> total{0};
      const auto t0 = std::chrono::steady_clock::now();
      at::parallel_for(0, words, 1 << 16, [&](int64_t b, int64_t e) {
        uint64_t sum = 0;
        for (int64_t k = b; k < e; ++k) sum += buf[static_cast<size_t>(k)];
        total += sum;
      });
      best = std::max(best, double(words) * 8 / seconds_since(t0) / 1e9);
      benchmark::DoNotOptimize(total.load());
    }
    return best;
  }();
  return gbps;
}

void BM_BandwidthProbe(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(probe_gbps());
  state.counters["GB/s"] = probe_gbps();
}
BENCHMARK(BM_BandwidthProbe)->Iterations(1);

// Runs `step(i)` for every iteration, cycling through `copies`, and reports the weight bytes
// streamed per second and their ratio to the probe.
template <typename Step>
void stream(benchmark::State& state, size_t copies, double weight_bytes, Step step) {
  const double probe = probe_gbps();
  size_t i = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    step(i);
    i = (i + 1) % copies;
  }
  const double gbps = weight_bytes * double(state.iterations()) / seconds_since(t0) / 1e9;
  state.counters["weights_GB/s"] = gbps;
  state.counters["of_probe"] = gbps / probe;
  state.counters["weights_MB"] = weight_bytes / 1e6;
}

std::vector<std::unique_ptr<HqqLinear>> layers(int64_t out, int64_t in, int bits, bool fuse) {
  QuantConfig c;
  c.nbits = bits;
  c.group_size = 64;
  c.optimizer = HqqOptimizer::Off;  // speed does not depend on the codes' values
  at::manual_seed(0);
  QuantizedTensor q = quantize(at::randn({out, in}) * 0.02, c, "bench");
  const int64_t bytes = out * in * bits / 8 + out * in / 64 * 4;
  std::vector<std::unique_ptr<HqqLinear>> v;
  for (int i = 0, n = copies_for(bytes); i < n; ++i)
    v.push_back(std::make_unique<HqqLinear>(q, at::Tensor(), at::kBFloat16, fuse));
  return v;
}

double weight_bytes(int64_t out, int64_t in, int bits) {
  return double(out) * in * bits / 8 + double(out) * in / 64 * 4;  // codes + fp16 scale, zero
}

// Fused decode product: 1 row × [out, in] weights at `bits`, group 64.
// One activation row through an HqqLinear: fused on the kernels' layout, or (fuse = false)
// dequantizing the whole weight, then multiplying (what HqqLinear did before the kernels).
void decode_product(benchmark::State& state, bool fuse) {
  set_compute_threads(0);
  const int64_t out = state.range(0), in = state.range(1);
  const int bits = static_cast<int>(state.range(2));
  auto ls = layers(out, in, bits, fuse);
  at::Tensor x = at::randn({1, in}).to(at::kBFloat16);
  stream(state, ls.size(), weight_bytes(out, in, bits),
         [&](size_t i) { benchmark::DoNotOptimize(ls[i]->forward(x)); });
  state.SetLabel(std::to_string(bits) + (fuse ? "-bit fused" : "-bit dequantize+matmul"));
}

void BM_LowbitGemv(benchmark::State& state) {
  decode_product(state, true);
}

void BM_DequantMatmul(benchmark::State& state) {
  decode_product(state, false);
}

// Enough bf16 [out, in] weight copies to stream from DRAM.
std::vector<at::Tensor> bf16_copies(int64_t out, int64_t in) {
  std::vector<at::Tensor> ws;
  for (int i = 0, n = copies_for(out * in * 2); i < n; ++i)
    ws.push_back((at::randn({out, in}) * 0.02).to(at::kBFloat16));
  return ws;
}

// libtorch bf16 dense product of 1 row (oneDNN).
void BM_DenseBf16Gemv(benchmark::State& state) {
  set_compute_threads(0);
  const int64_t out = state.range(0), in = state.range(1);
  const std::vector<at::Tensor> ws = bf16_copies(out, in);
  at::Tensor x = at::randn({1, in}).to(at::kBFloat16);
  stream(state, ws.size(), double(out) * in * 2,
         [&](size_t i) { benchmark::DoNotOptimize(at::linear(x, ws[i])); });
  state.SetLabel("bf16 dense");
}

// The bf16 GEMV the decode step uses (kernels/decode_ops.h), rows split over the threads as
// decode_step.cpp splits them: what a bf16 model's projections and lm_head stream at.
void BM_DecodeBf16Gemv(benchmark::State& state) {
  set_compute_threads(0);
  const int64_t out = state.range(0), in = state.range(1);
  const std::vector<at::Tensor> ws = bf16_copies(out, in);
  at::Tensor x = at::randn({in});
  std::vector<float> y(static_cast<size_t>(out));
  const auto& ops = kernels::decode_ops();
  stream(state, ws.size(), double(out) * in * 2, [&](size_t i) {
    const auto* w = static_cast<const uint16_t*>(ws[i].data_ptr());
    at::parallel_for(0, out, 64, [&](int64_t o0, int64_t o1) {
      ops.gemv_bf16(w, in, in, x.data_ptr<float>(), y.data(), o0, o1);
    });
    benchmark::DoNotOptimize(y.data());
  });
  state.SetLabel("bf16 decode GEMV");
}

// Prefill: 128 rows through the tiled dequantize + GEMM path vs bf16 dense.
void BM_LowbitPrefill(benchmark::State& state) {
  set_compute_threads(0);
  const int64_t out = state.range(0), in = state.range(1);
  const int bits = static_cast<int>(state.range(2));
  auto ls = layers(out, in, bits, true);
  at::Tensor x = at::randn({128, in}).to(at::kBFloat16);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ls[i]->forward(x));
    i = (i + 1) % ls.size();
  }
  state.counters["tokens/s"] =
      benchmark::Counter(128, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::to_string(bits) + "-bit tiled");
}

void BM_DensePrefill(benchmark::State& state) {
  set_compute_threads(0);
  const int64_t out = state.range(0), in = state.range(1);
  at::Tensor w = (at::randn({out, in}) * 0.02).to(at::kBFloat16);
  at::Tensor x = at::randn({128, in}).to(at::kBFloat16);
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(x, w));
  state.counters["tokens/s"] =
      benchmark::Counter(128, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("bf16 dense");
}

void shapes_bits(benchmark::internal::Benchmark* b) {
  for (auto [out, in] : {std::pair<int64_t, int64_t>{4096, 4096}, {4096, 11008}})
    for (int bits : {1, 2, 4}) b->Args({out, in, bits});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({4096, 4096})->Args({4096, 11008})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_DenseBf16Gemv)->Apply(shapes);
BENCHMARK(BM_DecodeBf16Gemv)->Apply(shapes)->Args({2048, 5632})->Args({32000, 2048});
BENCHMARK(BM_LowbitGemv)->Apply(shapes_bits);
BENCHMARK(BM_DequantMatmul)->Apply(shapes_bits);
BENCHMARK(BM_DensePrefill)->Apply(shapes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LowbitPrefill)
    ->Args({4096, 4096, 2})
    ->Args({4096, 4096, 4})
    ->Args({4096, 11008, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
