#include "core/base/device_memory.h"

#include <ATen/Context.h>

// Debian's CPU libtorch ships the CUDA headers too, so CMake decides (HQQ_TORCH_CUDA: the
// libtorch found has libc10_cuda).
#ifdef HQQ_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#define HQQ_HAVE_CUDA_ALLOCATOR 1
#endif

namespace hqq {

std::optional<DeviceMemory> device_memory(int device) {
#ifdef HQQ_HAVE_CUDA_ALLOCATOR
  if (!at::globalContext().hasCUDA()) return std::nullopt;
  using c10::cuda::CUDACachingAllocator::StatType;
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  const auto agg = static_cast<size_t>(StatType::AGGREGATE);
  DeviceMemory m;
  m.allocated_bytes = stats.allocated_bytes[agg].current;
  m.peak_allocated_bytes = stats.allocated_bytes[agg].peak;
  m.reserved_bytes = stats.reserved_bytes[agg].current;
  return m;
#else
  (void)device;
  return std::nullopt;
#endif
}

}  // namespace hqq
