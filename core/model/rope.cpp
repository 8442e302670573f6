#include "core/model/rope.h"

#include <cmath>

namespace hqq {

at::Tensor rope_inverse_frequencies(const ModelConfig& c) {
  const int64_t d = c.head_dim;
  at::Tensor inv = at::empty({d / 2}, at::kFloat);
  auto* p = inv.data_ptr<float>();
  const auto& rs = c.rope_scaling;
  for (int64_t i = 0; i < d / 2; ++i) {
    // Computed like HF: base ** (arange(0, d, 2, int64).float() / d), in fp32.
    float exponent = static_cast<float>(2 * i) / static_cast<float>(d);
    float f = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
    if (rs.type == RopeScaling::Type::Linear) {
      f = f / static_cast<float>(rs.factor);
    } else if (rs.type == RopeScaling::Type::Llama3) {
      const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old_ctx / rs.low_freq_factor;
      const double high_wavelen = old_ctx / rs.high_freq_factor;
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / rs.factor);
      } else if (wavelen >= high_wavelen) {
        double smooth =
            (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = static_cast<float>((1 - smooth) * f / rs.factor + smooth * f);
      }
    }
    p[i] = f;
  }
  return inv;
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& c) : inv_freq_(rope_inverse_frequencies(c)) {}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cos_sin(int64_t start, int64_t n,
                                                           at::ScalarType dtype,
                                                           const at::Device& device) const {
  at::Tensor pos = at::arange(start, start + n, at::TensorOptions().dtype(at::kFloat));
  at::Tensor freqs = at::outer(pos, inv_freq_);  // [n, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);  // [n, d]
  return {emb.cos().to(device, dtype), emb.sin().to(device, dtype)};
}

at::Tensor RotaryEmbedding::apply(const at::Tensor& x, const at::Tensor& cos,
                                  const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

}  // namespace hqq
