#pragma once
// GPU memory as libtorch's CUDA caching allocator sees it, for the Resources dock and reports.
// nullopt where there is no CUDA (a CPU libtorch, or no device).
#include <cstdint>
#include <optional>

namespace hqq {

struct DeviceMemory {
  int64_t allocated_bytes = 0;       // held by tensors now
  int64_t peak_allocated_bytes = 0;  // high-water mark
  int64_t reserved_bytes = 0;        // held by the allocator (cached)
};

std::optional<DeviceMemory> device_memory(int device = 0);

}  // namespace hqq
