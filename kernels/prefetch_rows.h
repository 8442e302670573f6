#pragma once
// Software prefetch of the rows a decode product reads next. The products walk one weight row
// at a time; on a 2-core Zen 4 VM the hardware prefetcher alone left them at a fraction of the
// memory bandwidth (plain low-bit 9-14 GB/s where a read streams 35-49; docs/RESULTS.md,
// "Software prefetch in the decode products"). On the Sapphire Rapids VM of 2026-12-02 a
// prefetch 1-8 rows ahead slowed the one-thread product instead: re-measure on Intel.
#include <xmmintrin.h>

#include <cstdint>

namespace hqq::kernels {

// Every 64-byte line of [p, p + bytes) into L1; a prefetch never faults, so p may be anywhere.
inline void prefetch_lines(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(c + b, _MM_HINT_T0);
}

}  // namespace hqq::kernels
