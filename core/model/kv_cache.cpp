#include "core/model/kv_cache.h"

#include "core/base/error.h"

namespace hqq {

KvCache::KvCache(const ModelConfig& c, int64_t batch, int64_t capacity, at::ScalarType dtype,
                 at::Device device)
    : batch_(batch), capacity_(capacity) {
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    k_.push_back(at::empty({batch, c.num_key_value_heads, capacity, c.head_dim}, opts));
    v_.push_back(at::empty({batch, c.num_key_value_heads, capacity, c.head_dim}, opts));
  }
}

void KvCache::truncate(int64_t n) {
  if (n < 0 || n > length_) throw Error("KvCache::truncate: length out of range");
  length_ = n;
}

std::pair<at::Tensor, at::Tensor> KvCache::append(int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  const int64_t t = k.size(2);
  if (length_ + t > capacity_)
    throw Error("context full: " + std::to_string(length_ + t) +
                " positions exceed the cache capacity of " + std::to_string(capacity_));
  k_[layer].narrow(2, length_, t).copy_(k);
  v_[layer].narrow(2, length_, t).copy_(v);
  return {k_[layer].narrow(2, 0, length_ + t), v_[layer].narrow(2, 0, length_ + t)};
}

int64_t KvCache::bytes() const {
  int64_t n = 0;
  for (const auto& t : k_) n += t.numel() * t.element_size();
  return 2 * n;
}

}  // namespace hqq
