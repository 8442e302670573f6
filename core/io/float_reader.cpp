#include "core/io/float_reader.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/io/checkpoint.h"

namespace hqq {

namespace {

// 8 MiB: large enough that a read is one sequential request to the disk, small enough to stay
// in the last-level cache on its way to the conversion.
constexpr size_t kChunkBytes = size_t{8} << 20;

template <typename T>
void convert(const uint8_t* src, int64_t n, float* dst, FloatRange* r) {
  float mn = r->min, mx = r->max;
  bool finite = r->finite;
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    const float f = static_cast<float>(v);
    dst[i] = f;
    mn = std::min(mn, f);
    mx = std::max(mx, f);
    finite = finite && std::isfinite(f);
  }
  r->min = mn, r->max = mx, r->finite = finite;
}

// bf16 is the top half of an fp32: a shift, written so that the compiler vectorises it. A NaN
// or infinity has all exponent bits set; the range is then meaningless and `finite` false.
void convert_bf16(const uint8_t* src, int64_t n, float* dst, FloatRange* r) {
  float mn = r->min, mx = r->max;
  uint32_t special = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    const uint32_t bits = uint32_t{h} << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    dst[i] = f;
    mn = f < mn ? f : mn;
    mx = f > mx ? f : mx;
    special |= static_cast<uint32_t>((h & 0x7f80u) == 0x7f80u);
  }
  r->min = mn, r->max = mx, r->finite = r->finite && special == 0;
}

}  // namespace

FloatRange read_as_float(const Checkpoint& ckpt, const std::string& name, float* dst,
                         std::vector<uint8_t>* staging) {
  const TensorEntry& e = ckpt.entry(name);
  void (*conv)(const uint8_t*, int64_t, float*, FloatRange*) = nullptr;
  switch (e.dtype) {
    case DType::BF16:
      conv = convert_bf16;
      break;
    case DType::F16:
      conv = convert<c10::Half>;
      break;
    case DType::F32:
      conv = convert<float>;
      break;
    default:
      break;
  }
  const size_t elem = dtype_size(e.dtype);
  const uint64_t total = e.nbytes();
  FloatRange r;
  r.min = std::numeric_limits<float>::infinity();
  r.max = -std::numeric_limits<float>::infinity();
  if (!conv) {  // other dtypes (rare in weights): ATen's conversion from the mapped bytes
    const int64_t n = static_cast<int64_t>(e.numel());
    at::from_blob(dst, {n}, at::kFloat).copy_(ckpt.tensor(name).reshape({n}));
    convert<float>(reinterpret_cast<const uint8_t*>(dst), n, dst, &r);
    ckpt.release(name);
    return n ? r : FloatRange{};
  }
  if (staging->size() < kChunkBytes) staging->resize(kChunkBytes);
  const size_t chunk = kChunkBytes / elem * elem;  // whole elements per read
  for (uint64_t off = 0; off < total; off += chunk) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(chunk, total - off));
    ckpt.read(name, off, staging->data(), len);
    conv(staging->data(), static_cast<int64_t>(len / elem), dst + off / elem, &r);
  }
  return total ? r : FloatRange{};
}

}  // namespace hqq
