#pragma once
// Process memory as the kernel reports it (/proc/self/status), for reports and the GUI.
#include <cstdint>

namespace hqq {

struct MemoryStats {
  int64_t rss_bytes = 0;       // resident now
  int64_t peak_rss_bytes = 0;  // high-water mark
};

MemoryStats memory_stats();

}  // namespace hqq
