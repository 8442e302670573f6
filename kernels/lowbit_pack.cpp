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

int64_t lowbit_row_bytes(int nbits, int64_t in, LowbitLayout layout) {
  const int64_t padded = round_up(in, block_of(layout));
  if (nbits == 8) return padded;
  return layout == LowbitLayout::BitPlanes16 ? padded / 16 * nbits * 2 : padded / 64 * 8 * nbits;
}

int64_t LowbitMatrix::row_bytes() const {
  return lowbit_row_bytes(nbits, in, layout);
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

uint64_t bit_mask64(const uint8_t* c, int p) {
  uint64_t m = 0;
  for (int q = 0; q < 4; ++q) m |= static_cast<uint64_t>(plane_mask(c + 16 * q, p)) << (16 * q);
  return m;
}

// One block of 64 codes in the Blocks64 layout.
void pack_block64(const uint8_t* c, int nbits, uint8_t* out) {
  switch (nbits) {
    case 1: {
      const uint64_t m = bit_mask64(c, 0);
      std::memcpy(out, &m, 8);
      break;
    }
    case 2:
    case 3:
      for (int b = 0; b < 16; ++b) {
        uint8_t v = 0;
        for (int k = 0; k < 4; ++k) v |= static_cast<uint8_t>((c[b + 16 * k] & 3) << (2 * k));
        out[b] = v;
      }
      if (nbits == 3) {
        const uint64_t m = bit_mask64(c, 2);
        std::memcpy(out + 16, &m, 8);
      }
      break;
    case 4:
      for (int b = 0; b < 32; ++b)
        out[b] = static_cast<uint8_t>((c[b] & 15) | ((c[b + 32] & 15) << 4));
      break;
    default:
      std::memcpy(out, c, 64);
  }
}

int code_in_block64(const uint8_t* blk, int nbits, int j) {
  switch (nbits) {
    case 1:
      return (blk[j / 8] >> (j % 8)) & 1;
    case 2:
    case 3: {
      int q = (blk[j % 16] >> (2 * (j / 16))) & 3;
      if (nbits == 3) q |= ((blk[16 + j / 8] >> (j % 8)) & 1) << 2;
      return q;
    }
    case 4:
      return (blk[j % 32] >> (4 * (j / 32))) & 15;
    default:
      return blk[j];
  }
}

}  // namespace

void lowbit_pack_rows(const uint8_t* codes, int64_t in, int nbits, LowbitLayout layout, int64_t o0,
                      int64_t o1, uint8_t* dst) {
  const int64_t B = block_of(layout), padded = round_up(in, B), blocks = padded / B;
  const int64_t row_bytes = lowbit_row_bytes(nbits, in, layout);
  uint8_t tail[64];
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = codes + o * in;
    uint8_t* out = dst + o * row_bytes;
    if (layout == LowbitLayout::Blocks64x16) {  // see blocks64x16_slot
      const int S = 8 / nbits, span = 64 / S, V = 2 * nbits;
      for (int64_t r0 = 0; r0 < blocks; r0 += kRunBlocks) {
        const int64_t n = std::min<int64_t>(kRunBlocks, blocks - r0);
        uint8_t* run = out + r0 * 8 * nbits;
        for (int64_t l = 0; l < n; ++l) {
          const int64_t b = r0 + l, len = std::min<int64_t>(64, in - b * 64);
          const uint8_t* c = row + b * 64;
          if (len < 64) {  // the padded tail: code 0
            std::memset(tail, 0, sizeof tail);
            std::memcpy(tail, c, static_cast<size_t>(len));
            c = tail;
          }
          for (int v = 0; v < V; ++v)
            for (int k = 0; k < 4; ++k) {
              int byte = 0;
              for (int p = 0; p < S; ++p) byte |= c[p * span + 4 * v + k] << (nbits * p);
              run[v * 4 * n + 4 * l + k] = static_cast<uint8_t>(byte);
            }
        }
      }
      continue;
    }
    if (nbits == 8) {
      std::memcpy(out, row, static_cast<size_t>(in));
      std::memset(out + in, 0, static_cast<size_t>(padded - in));
      continue;
    }
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t n = std::min<int64_t>(B, in - b * B);
      const uint8_t* c = row + b * B;
      if (n < B) {  // the padded tail: code 0
        std::memset(tail, 0, sizeof tail);
        std::memcpy(tail, c, static_cast<size_t>(n));
        c = tail;
      }
      if (layout == LowbitLayout::Blocks64) {
        pack_block64(c, nbits, out + b * 8 * nbits);
      } else {
        uint16_t masks[8];
        for (int p = 0; p < nbits; ++p) masks[p] = plane_mask(c, p);
        std::memcpy(out + b * 2 * nbits, masks, static_cast<size_t>(2 * nbits));
      }
    }
  }
}

int lowbit_code_at(const LowbitMatrix& w, int64_t o, int64_t i) {
  const uint8_t* row = w.codes + o * w.row_bytes();
  if (w.layout == LowbitLayout::Blocks64x16) {
    const CodeSlot s = blocks64x16_slot(w.nbits, w.blocks_per_row(), i / 64, i % 64);
    return (row[s.byte] >> s.shift) & ((1 << w.nbits) - 1);
  }
  if (w.nbits == 8) return row[i];
  if (w.layout == LowbitLayout::Blocks64)
    return code_in_block64(row + (i / 64) * 8 * w.nbits, w.nbits, static_cast<int>(i % 64));
  const uint8_t* blk = row + (i / 16) * 2 * w.nbits;
  int q = 0;
  for (int p = 0; p < w.nbits; ++p) {
    uint16_t m;
    std::memcpy(&m, blk + 2 * p, 2);
    q |= ((m >> (i % 16)) & 1) << p;
  }
  return q;
}

void lowbit_unpack_rows(const LowbitMatrix& w, int64_t o0, int64_t o1, uint8_t* codes) {
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t i = 0; i < w.in; ++i)
      codes[o * w.in + i] = static_cast<uint8_t>(lowbit_code_at(w, o, i));
}

}  // namespace hqq::kernels
