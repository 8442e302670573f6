// Weight buffers on huge pages: aligned, sized and valued like at::empty / a copy, and whether
// the kernel backs them with huge pages (where THP is enabled at all).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "core/base/huge_pages.h"

namespace hqq {
namespace {

bool thp_enabled() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s.find("[never]") == std::string::npos && !s.empty();
}

// Kilobytes of AnonHugePages in this process.
int64_t anon_huge_kb() {
  std::ifstream f("/proc/self/smaps_rollup");
  std::string key;
  int64_t kb = 0;
  while (f >> key) {
    if (key == "AnonHugePages:") {
      f >> kb;
      return kb;
    }
    f.ignore(1 << 20, '\n');
  }
  return -1;
}

TEST(HugePages, LargeBuffersStartOnTwoMiBAndHoldTheirValues) {
  const at::Tensor src = at::randn({1000, 3000}).to(at::kBFloat16);  // 6 MB
  const int64_t before = anon_huge_kb();
  at::Tensor hp = copy_to_huge_pages(src);
  EXPECT_EQ(hp.sizes(), src.sizes());
  EXPECT_EQ(hp.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(hp.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(hp.data_ptr()) % (uintptr_t{2} << 20), 0u);
  EXPECT_TRUE(at::equal(hp, src));
  if (thp_enabled() && before >= 0) {  // the two whole 2 MiB extents of 6 MB are huge pages
    EXPECT_GE(anon_huge_kb() - before, 4096) << "THP enabled but the buffer got 4 KiB pages";
  }
  hp = at::Tensor();  // unmapped with its last reference (ASan would see a leak otherwise)
}

TEST(HugePages, SmallBuffersAndConversionsArePlainTensors) {
  at::Tensor small = empty_on_huge_pages({3, 5}, at::kHalf);
  EXPECT_EQ(small.sizes(), (at::IntArrayRef{3, 5}));
  EXPECT_EQ(small.scalar_type(), at::kHalf);
  at::Tensor big = empty_on_huge_pages({1 << 20}, at::kFloat);
  big.fill_(2.5f);
  EXPECT_EQ(big.sum().item<double>(), 2.5 * (1 << 20));
}

}  // namespace
}  // namespace hqq
