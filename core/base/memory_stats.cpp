#include "core/base/memory_stats.h"

#include <fstream>
#include <string>

namespace hqq {

MemoryStats memory_stats() {
  MemoryStats m;
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    int64_t kb = 0;
    if (key == "VmRSS:" && in >> kb)
      m.rss_bytes = kb * 1024;
    else if (key == "VmHWM:" && in >> kb)
      m.peak_rss_bytes = kb * 1024;
    else
      in.ignore(1 << 12, '\n');
  }
  return m;
}

}  // namespace hqq
