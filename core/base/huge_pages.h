#pragma once
// Weight buffers that decode streams every token, on 2 MiB transparent huge pages where the
// kernel grants them (THP "always", or "madvise" as Debian ships it). With 4 KiB pages a token
// of a 486 M-parameter 4-bit model walks ~70 000 pages: the TLB misses and the hardware
// prefetchers stopping at every page edge cost ~20 % of the decode step (docs/RESULTS.md).
// Where huge pages are refused the buffer is plain memory; nothing else changes.
#include <ATen/ATen.h>

#include <vector>

namespace hqq {

// An uninitialised contiguous CPU tensor whose storage is an anonymous mapping that starts on a
// 2 MiB boundary, advised MADV_HUGEPAGE; freed (munmap) with its last reference. Buffers under
// 2 MiB are plain at::empty.
at::Tensor empty_on_huge_pages(const std::vector<int64_t>& sizes, at::ScalarType dtype);

// A contiguous copy of a CPU tensor on huge pages (same sizes and dtype).
at::Tensor copy_to_huge_pages(const at::Tensor& t);

}  // namespace hqq
