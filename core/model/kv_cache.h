#pragma once
// Keys and values of past positions, per layer, so that decoding a token costs one position of
// work instead of the whole prefix. Storage is allocated once for `capacity` positions.
#include <ATen/ATen.h>

#include <vector>

#include "core/model/model_config.h"

namespace hqq {

class KvCache {
 public:
  KvCache(const ModelConfig& c, int64_t batch, int64_t capacity, at::ScalarType dtype,
          at::Device device = at::kCPU);
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }
  // Forget everything after the first n positions (reuse of a shared prompt prefix).
  void truncate(int64_t n);
  void clear() { length_ = 0; }

  // Stores k, v ([B, kv_heads, T, head_dim]) for positions [length, length + T) of `layer` and
  // returns views of all positions so far. The length advances once per forward, by commit().
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void commit(int64_t n) { length_ += n; }
  // The whole storage of a layer ([B, kv_heads, capacity, head_dim]), for the decode kernels,
  // which write position length() themselves before commit(1).
  const at::Tensor& keys(int64_t layer) const { return k_[static_cast<size_t>(layer)]; }
  const at::Tensor& values(int64_t layer) const { return v_[static_cast<size_t>(layer)]; }
  int64_t bytes() const;

 private:
  std::vector<at::Tensor> k_, v_;  // [B, kv_heads, capacity, head_dim]
  int64_t batch_ = 0, capacity_ = 0, length_ = 0;
};

}  // namespace hqq
