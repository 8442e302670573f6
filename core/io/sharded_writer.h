#pragma once
// Writes a checkpoint's tensors as one or more safetensors shards (plus the index when there are
// several), producing the tensors unit by unit: a unit is written by a second thread while the
// next one is produced, so at most two units are in memory at a time.
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/base/job.h"

namespace hqq {

struct OutputTensor {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  int64_t bytes() const;
};

// A group of tensors produced together (a quantized layer's parts, or one copied tensor).
struct WriteUnit {
  std::vector<OutputTensor> tensors;
  // Returns the tensors in the declared order, with the declared dtypes and shapes.
  std::function<std::vector<at::Tensor>()> produce;
};

// Shards hold whole units and at most `shard_bytes` unless a single unit is larger. Returns the
// total bytes of tensor data written. Checks `cancel` between units.
int64_t write_sharded(const std::filesystem::path& folder, const std::vector<WriteUnit>& units,
                      int64_t shard_bytes, const JobContext& job);

}  // namespace hqq
