#pragma once
// Reads the weights a streaming job will quantize one layer ahead: while the solver works on
// layer k, a background thread reads layer k+1 (large sequential pread()s, bf16 → fp32 straight
// into a preallocated buffer). Two buffers sized for the largest weight are allocated once and
// reused, so no layer costs fresh pages; peak memory is two fp32 weights.
#include <ATen/ATen.h>

#include <future>
#include <string>
#include <vector>

#include "core/io/float_reader.h"

namespace hqq {

class Checkpoint;

class WeightPrefetcher {
 public:
  // `order`: the tensor names in the order take() will ask for them. `ckpt` must outlive this.
  WeightPrefetcher(const Checkpoint& ckpt, std::vector<std::string> order);
  ~WeightPrefetcher();  // waits for a read in flight (its result is dropped)
  WeightPrefetcher(const WeightPrefetcher&) = delete;
  WeightPrefetcher& operator=(const WeightPrefetcher&) = delete;

  struct Weight {
    at::Tensor w;  // fp32, the tensor's shape; valid until the next take()
    FloatRange range;
  };
  // The named weight (read now if it is not the one expected next), then starts on the next.
  // Rethrows the read's error (an InputError naming the file).
  Weight take(const std::string& name);

  double read_seconds() const { return read_seconds_; }  // in the reader, overlapped
  double wait_seconds() const { return wait_seconds_; }  // the caller waited for a read

 private:
  FloatRange read_into(size_t index, int slot);
  void start(size_t index);

  const Checkpoint& ckpt_;
  std::vector<std::string> order_;
  at::Tensor buffers_[2];
  std::vector<uint8_t> staging_[2];
  std::future<FloatRange> pending_;
  size_t pending_index_ = 0;
  int slot_ = 0;  // the buffer the next read goes to
  double read_seconds_ = 0, wait_seconds_ = 0;
};

}  // namespace hqq
