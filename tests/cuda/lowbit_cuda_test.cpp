// The CUDA low-bit kernels against the portable CPU kernel (which the CPU tests check against
// dequantize-then-matmul), then their speed: GEMV at 1/2/4 bits on 4096×4096 and 4096×11008,
// cycling through copies that exceed the GPU's L2, against a device-to-device copy probe.
// Exits 77 (reported by CTest as skipped, never as passed) where no CUDA device exists.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <random>
#include <vector>

#include "kernels/cuda/lowbit_cuda.h"
#include "kernels/lowbit_ops.h"

namespace {

using namespace hqq::kernels;

#define CHECK(x)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

template <typename T>
T* to_device(const std::vector<T>& v) {
  T* p = nullptr;
  CHECK(cudaMalloc(&p, std::max<size_t>(1, v.size() * sizeof(T))));
  CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}

void free_device(const LowbitMatrix& d) {
  cudaFree(const_cast<uint8_t*>(d.codes));
  cudaFree(const_cast<uint16_t*>(d.scale));
  cudaFree(const_cast<uint16_t*>(d.zero));
}

void free_all(std::initializer_list<float*> ps) {
  for (float* p : ps) cudaFree(p);
}

struct HostLayer {
  std::vector<uint8_t> codes, storage;
  std::vector<uint16_t> scale, zero;
  LowbitMatrix view;  // host pointers
  HostLayer(int64_t out, int64_t in, int64_t g, int nb, std::mt19937& rng) {
    std::uniform_int_distribution<int> c(0, (1 << nb) - 1);
    for (int64_t k = 0; k < out * in; ++k) codes.push_back(static_cast<uint8_t>(c(rng)));
    std::uniform_int_distribution<int> sh(0x1400, 0x2a00), zh(0x0000, 0x4400);  // fp16 bits
    for (int64_t k = 0; k < out * (in / g); ++k) {
      scale.push_back(static_cast<uint16_t>(sh(rng)));
      zero.push_back(static_cast<uint16_t>(zh(rng)));
    }
    storage.resize(static_cast<size_t>(lowbit_row_bytes(nb, in, LowbitLayout::Blocks64) * out));
    lowbit_pack_rows(codes.data(), in, nb, LowbitLayout::Blocks64, 0, out, storage.data());
    view = {
        out,          in,         round_up(in, 64), g, nb, LowbitLayout::Blocks64, storage.data(),
        scale.data(), zero.data()};
  }
  LowbitMatrix on_device() const {
    LowbitMatrix d = view;
    d.codes = to_device(storage);
    d.scale = to_device(scale);
    d.zero = to_device(zero);
    return d;
  }
};

int correctness() {
  std::mt19937 rng(5);
  int failures = 0;
  struct Case {
    int64_t out, in, g;
  };
  for (int nb : {1, 2, 3, 4, 8})
    for (Case c : {Case{7, 64, 64}, Case{33, 256, 32}, Case{5, 200, 8}, Case{64, 4096, 128}})
      for (int64_t rows : {1, 5, 11}) {
        HostLayer h(c.out, c.in, c.g, nb, rng);
        const int64_t pad = h.view.in_padded, groups = c.in / c.g;
        std::normal_distribution<float> xd;
        std::vector<float> x(static_cast<size_t>(rows * pad), 0.0f),
            xs(static_cast<size_t>(rows * groups), 0.0f);
        for (int64_t m = 0; m < rows; ++m)
          for (int64_t i = 0; i < c.in; ++i) {
            x[m * pad + i] = xd(rng);
            xs[m * groups + i / c.g] += x[m * pad + i];
          }
        std::vector<float> ref(static_cast<size_t>(rows * c.out)), got(ref.size());
        lowbit_ops_scalar().gemv(h.view, x.data(), xs.data(), rows, ref.data(), c.out, 0, c.out);
        LowbitMatrix d = h.on_device();
        float *dx = to_device(x), *dxs = to_device(xs), *dy = nullptr;
        CHECK(cudaMalloc(&dy, got.size() * sizeof(float)));
        const std::string err = cuda::gemv(d, dx, dxs, rows, dy, c.out, nullptr);
        CHECK(cudaMemcpy(got.data(), dy, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
        double worst = 0, scale = 1e-6;
        for (size_t k = 0; k < ref.size(); ++k) {
          worst = std::max(worst, double(std::abs(got[k] - ref[k])));
          scale = std::max(scale, double(std::abs(ref[k])));
        }
        const bool ok = err.empty() && worst <= 1e-4 * scale * std::sqrt(double(c.in));
        if (!ok) {
          ++failures;
          std::printf("FAIL %d-bit %lldx%lld g%lld rows %lld: %s max error %.3g (scale %.3g)\n", nb,
                      (long long)c.out, (long long)c.in, (long long)c.g, (long long)rows,
                      err.c_str(), worst, scale);
        }
        free_device(d);
        free_all({dx, dxs, dy});
      }
  std::printf("correctness: %d failures\n", failures);
  return failures;
}

void speed() {
  // Device-to-device copy moves 2 bytes of traffic per byte copied.
  const size_t probe_bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  CHECK(cudaMalloc(&a, probe_bytes));
  CHECK(cudaMalloc(&b, probe_bytes));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  float best_ms = 1e9;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(e0);
    CHECK(cudaMemcpy(b, a, probe_bytes, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    best_ms = std::min(best_ms, ms);
  }
  const double probe_gbps = 2.0 * probe_bytes / (best_ms * 1e-3) / 1e9;
  cudaFree(a);
  cudaFree(b);
  std::printf("device %s; copy probe %.0f GB/s\n", cuda::device_name().c_str(), probe_gbps);
  std::mt19937 rng(1);
  for (auto [out, in] : {std::pair<int64_t, int64_t>{4096, 4096}, {4096, 11008}})
    for (int nb : {1, 2, 4}) {
      HostLayer h(out, in, 64, nb, rng);
      const double bytes = double(h.storage.size()) + 4.0 * double(h.scale.size());
      const int copies = std::max(2, int(512e6 / bytes));  // ≫ L2
      std::vector<LowbitMatrix> ds;
      for (int k = 0; k < copies; ++k) ds.push_back(h.on_device());
      std::vector<float> x(static_cast<size_t>(h.view.in_padded), 0.5f),
          xs(static_cast<size_t>(in / 64), 32.0f);
      float *dx = to_device(x), *dxs = to_device(xs), *dy = nullptr;
      CHECK(cudaMalloc(&dy, out * sizeof(float)));
      for (int k = 0; k < copies; ++k) cuda::gemv(ds[k], dx, dxs, 1, dy, out, nullptr);
      const int iters = 20 * copies;
      cudaEventRecord(e0);
      for (int k = 0; k < iters; ++k) cuda::gemv(ds[k % copies], dx, dxs, 1, dy, out, nullptr);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      const double us = ms * 1e3 / iters, gbps = bytes / (us * 1e-6) / 1e9;
      std::printf("gemv %dx%d %d-bit: %.2f us, %.0f GB/s of weights, %.0f%% of the probe\n",
                  int(out), int(in), nb, us, gbps, 100 * gbps / probe_gbps);
      for (auto& d : ds) free_device(d);
      free_all({dx, dxs, dy});
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda::device_available()) {
    std::printf("no CUDA device: not run\n");
    return 77;
  }
  const int failures = correctness();
  if (argc > 1 && std::string(argv[1]) == "--speed") speed();
  return failures == 0 ? 0 : 1;
}
