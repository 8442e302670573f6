#include "core/quant/incoherence.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/base/error.h"

namespace hqq {
namespace {

// In-place unnormalised Walsh-Hadamard transform of n = 2^k values.
void fwht(float* v, int64_t n) {
  for (int64_t h = 1; h < n; h *= 2)
    for (int64_t i = 0; i < n; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
}

std::vector<float> signs(uint64_t seed, int64_t in) {
  std::mt19937_64 gen(seed);
  std::vector<float> s(static_cast<size_t>(in));
  for (int64_t i = 0; i < in; i += 64) {
    const uint64_t bits = gen();
    for (int64_t k = 0; k < 64 && i + k < in; ++k) s[i + k] = (bits >> k) & 1 ? -1.0f : 1.0f;
  }
  return s;
}

at::Tensor apply(const at::Tensor& x, const Rotation& r, int64_t in, bool inverse) {
  if (x.size(-1) != in) throw Error("rotation: the last dimension is not the layer's input");
  at::Tensor y = x.to(at::kFloat).contiguous().clone();
  if (!r.enabled()) return y;
  const std::vector<float> s = signs(r.seed, in);
  const float norm = 1.0f / std::sqrt(static_cast<float>(r.block));
  const int64_t rows = y.numel() / in;
  float* p = y.data_ptr<float>();
  at::parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      float* v = p + row * in;
      // x R = (x D) H / √n; y Rᵀ = (y H / √n) D.
      if (!inverse)
        for (int64_t i = 0; i < in; ++i) v[i] *= s[i];
      for (int64_t b = 0; b < in; b += r.block) fwht(v + b, r.block);
      for (int64_t i = 0; i < in; ++i) v[i] *= inverse ? norm * s[i] : norm;
    }
  });
  return y;
}

}  // namespace

uint64_t rotation_seed(const std::string& module) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : module) h = (h ^ ch) * 1099511628211ull;
  return h >> 1;  // stored as int64
}

Rotation rotation_for(int64_t in, uint64_t seed) {
  Rotation r;
  r.seed = seed;
  int64_t b = 1;
  while (in % (2 * b) == 0 && 2 * b <= 4096) b *= 2;
  r.block = b >= 2 ? b : 0;
  return r;
}

at::Tensor rotate(const at::Tensor& x, const Rotation& r, int64_t in) {
  return apply(x, r, in, false);
}

at::Tensor unrotate(const at::Tensor& y, const Rotation& r, int64_t in) {
  return apply(y, r, in, true);
}

}  // namespace hqq
