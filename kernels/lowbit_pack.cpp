#include <algorithm>
#include <cstring>

#include "kernels/lowbit_matrix.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hqq::kernels {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) mant <<= 1, --exp;
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {
// Bit p of each of 16 codes, as a 16-bit mask.
inline uint16_t plane_mask(const uint8_t* c, int p) {
#if defined(__SSE2__)
  __m128i v;
  std::memcpy(&v, c, 16);
  // Moving bit p to bit 7 of every byte lets movemask collect it; the 16-bit shift drags the
  // low byte's bits into the high byte's low bits, which movemask ignores.
  return static_cast<uint16_t>(_mm_movemask_epi8(_mm_sll_epi16(v, _mm_cvtsi32_si128(7 - p))));
#else
  uint16_t m = 0;
  for (int j = 0; j < 16; ++j) m |= static_cast<uint16_t>(((c[j] >> p) & 1) << j);
  return m;
#endif
}
}  // namespace

void lowbit_pack_rows(const uint8_t* codes, int64_t in, int nbits, int64_t o0, int64_t o1,
                      void* dst) {
  const int64_t padded = round_up_16(in), blocks = padded / 16;
  uint8_t block[16];
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = codes + o * in;
    if (nbits == 8) {
      uint8_t* out = static_cast<uint8_t*>(dst) + o * padded;
      std::memcpy(out, row, static_cast<size_t>(in));
      std::memset(out + in, 0, static_cast<size_t>(padded - in));
      continue;
    }
    uint16_t* out = static_cast<uint16_t*>(dst) + o * blocks * nbits;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t n = std::min<int64_t>(16, in - b * 16);
      const uint8_t* c = row + b * 16;
      if (n < 16) {  // the padded tail: code 0
        std::memset(block, 0, sizeof block);
        std::memcpy(block, c, static_cast<size_t>(n));
        c = block;
      }
      for (int p = 0; p < nbits; ++p) out[b * nbits + p] = plane_mask(c, p);
    }
  }
}

void lowbit_unpack_rows(const LowbitMatrix& w, int64_t o0, int64_t o1, uint8_t* codes) {
  const int64_t blocks = w.blocks_per_row();
  for (int64_t o = o0; o < o1; ++o) {
    uint8_t* row = codes + o * w.in;
    if (w.nbits == 8) {
      std::memcpy(row, w.bytes + o * w.in_padded, static_cast<size_t>(w.in));
      continue;
    }
    const uint16_t* pl = w.planes + o * blocks * w.nbits;
    for (int64_t i = 0; i < w.in; ++i) {
      const int64_t b = i / 16, j = i % 16;
      uint8_t q = 0;
      for (int p = 0; p < w.nbits; ++p)
        q |= static_cast<uint8_t>(((pl[b * w.nbits + p] >> j) & 1) << p);
      row[i] = q;
    }
  }
}

}  // namespace hqq::kernels
