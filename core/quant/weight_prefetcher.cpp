#include "core/quant/weight_prefetcher.h"

#include <algorithm>
#include <chrono>

#include "core/io/checkpoint.h"

namespace hqq {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

WeightPrefetcher::WeightPrefetcher(const Checkpoint& ckpt, std::vector<std::string> order)
    : ckpt_(ckpt), order_(std::move(order)) {
  uint64_t most = 0;
  for (const auto& name : order_) most = std::max(most, ckpt_.entry(name).numel());
  // Untouched until written: a checkpoint of small layers does not pay for the largest.
  for (auto& b : buffers_) b = at::empty({static_cast<int64_t>(most)}, at::kFloat);
  if (!order_.empty()) start(0);
}

WeightPrefetcher::~WeightPrefetcher() {
  if (pending_.valid()) pending_.wait();
}

FloatRange WeightPrefetcher::read_into(size_t index, int slot) {
  const auto t0 = Clock::now();
  FloatRange r =
      read_as_float(ckpt_, order_[index], buffers_[slot].data_ptr<float>(), &staging_[slot]);
  read_seconds_ += since(t0);  // one reader at a time: the future's get() orders this
  return r;
}

void WeightPrefetcher::start(size_t index) {
  pending_index_ = index;
  const int slot = slot_;
  pending_ = std::async(std::launch::async, [this, index, slot] { return read_into(index, slot); });
}

WeightPrefetcher::Weight WeightPrefetcher::take(const std::string& name) {
  size_t index = order_.size();
  FloatRange range;
  int slot = slot_;
  if (pending_.valid() && order_[pending_index_] == name) {
    const auto t0 = Clock::now();
    index = pending_index_;
    range = pending_.get();
    wait_seconds_ += since(t0);
  } else {  // not the expected one: read it here, then resume after it
    if (pending_.valid()) pending_.wait();
    pending_ = {};
    index = static_cast<size_t>(std::find(order_.begin(), order_.end(), name) - order_.begin());
    if (index == order_.size()) order_.push_back(name);
    if (ckpt_.entry(name).numel() > static_cast<uint64_t>(buffers_[slot].numel()))
      buffers_[slot] = at::empty({static_cast<int64_t>(ckpt_.entry(name).numel())}, at::kFloat);
    const auto t0 = Clock::now();
    range = read_into(index, slot);
    wait_seconds_ += since(t0);
  }
  const std::vector<int64_t> shape = ckpt_.entry(name).shape;
  const int64_t n = static_cast<int64_t>(ckpt_.entry(name).numel());
  Weight out{buffers_[slot].narrow(0, 0, n).view(shape), range};
  slot_ = 1 - slot;
  if (index + 1 < order_.size()) start(index + 1);
  return out;
}

}  // namespace hqq
