#include "core/base/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

namespace hqq {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

at::Tensor empty_on_huge_pages(const std::vector<int64_t>& sizes, at::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  // Small buffers are not worth a mapping of their own.
  if (bytes < kHugePage) return at::empty(sizes, at::TensorOptions().dtype(dtype));
  // Over-map by one huge page so the buffer can start on a 2 MiB boundary, then return the
  // unused head and tail to the kernel. The last partial huge page stays on 4 KiB pages (THP
  // only backs 2 MiB extents the mapping covers whole), so nothing is allocated past the end.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t span = (bytes + page - 1) / page * page;
  void* raw =
      ::mmap(nullptr, span + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (start > base) ::munmap(raw, start - base);
  const uintptr_t end = start + span, map_end = base + span + kHugePage;
  if (map_end > end) ::munmap(reinterpret_cast<void*>(end), map_end - end);
  void* p = reinterpret_cast<void*>(start);
  ::madvise(p, span, MADV_HUGEPAGE);  // advice only: a refusal leaves 4 KiB pages
  return at::from_blob(
      p, sizes, [span](void* q) { ::munmap(q, span); }, at::TensorOptions().dtype(dtype));
}

at::Tensor copy_to_huge_pages(const at::Tensor& t) {
  at::Tensor out = empty_on_huge_pages(t.sizes().vec(), t.scalar_type());
  out.copy_(t);
  return out;
}

}  // namespace hqq
