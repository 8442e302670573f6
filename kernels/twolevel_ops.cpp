// Portable two-level kernels: packing, meta decoding, dequantization and an fp32 product. The
// VNNI product (twolevel_ops_vnni.cpp) is chosen at run time where the CPU has it.
#include "kernels/twolevel_ops.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/decode_ops.h"
#include "kernels/lowbit_matrix.h"

namespace hqq::kernels {

void twolevel_gemv_vnni(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy,
                        int64_t o0, int64_t o1);
void twolevel_quantize_x_vnni(TwoLevelX* x);
void twolevel_interleave_x_vnni(TwoLevelX* x);
void twolevel_interleaved_gemv_vnni(const TwoLevelView& w, const TwoLevelX& x, float* y,
                                    int64_t ldy, int64_t o0, int64_t o1);
void twolevel_dequantize_bf16_vnni(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                                   int64_t ld);

namespace {

bool use_vnni() {
  static const bool v = [] {
    const char* env = std::getenv("HQQ_LOWBIT_KERNELS");
    const std::string policy = env ? env : "";
    const CpuFeatures f = detect_cpu_features();
    return policy.empty() && best_kernel_family(f) == "avx512" && f.avx512vnni;
  }();
  return v;
}

}  // namespace

int64_t twolevel_block_bytes(int nbits) {
  return 64 * nbits / 8;
}

namespace {

// The 8x8 bit matrix of a 64-bit word (bit 8r + c) transposed (bit 8c + r), by three swaps of
// its 2x2, 4x4 and 4x4-block off-diagonals.
uint64_t transpose8x8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
  return x ^ t ^ (t << 28);
}

// Where block b's 4-byte words sit in the interleaved row: word v of lane b % 16 of its run,
// the run's words 4n bytes apart (n blocks in the run; lowbit_matrix.h, blocks64x16_slot).
// A stored 2-bit block's byte 4v + k (inputs 4v + k + 16p in plane p) is byte k of word v:
// the words move and nothing else. A stored 1-bit block's byte p holds inputs 8p..8p+7;
// interleaved, byte 4v + k of the block holds input 8p + 4v + k in bit p: the same 8x8 bit
// matrix, transposed.
int64_t lane_offset(int64_t blocks, int64_t b, int nbits, int64_t* n) {
  const int64_t r0 = b / kRunBlocks * kRunBlocks;
  *n = std::min(kRunBlocks, blocks - r0);
  return r0 * 8 * nbits + 4 * (b - r0);
}

}  // namespace

void twolevel_interleave_row(const uint8_t* stored, int64_t K, int nbits, uint8_t* out) {
  const int64_t blocks = K / 64;
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t n = 0;
    uint8_t* lane = out + lane_offset(blocks, b, nbits, &n);
    uint8_t blk[16];
    std::memcpy(blk, stored + b * 8 * nbits, static_cast<size_t>(8 * nbits));
    if (nbits == 1) {
      uint64_t u;
      std::memcpy(&u, blk, 8);
      u = transpose8x8(u);
      std::memcpy(blk, &u, 8);
    }
    for (int v = 0; v < 2 * nbits; ++v) std::memcpy(lane + v * 4 * n, blk + 4 * v, 4);
  }
}

void twolevel_deinterleave_row(const uint8_t* interleaved, int64_t K, int nbits, uint8_t* out) {
  const int64_t blocks = K / 64;
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t n = 0;
    const uint8_t* lane = interleaved + lane_offset(blocks, b, nbits, &n);
    uint8_t blk[16];
    for (int v = 0; v < 2 * nbits; ++v) std::memcpy(blk + 4 * v, lane + v * 4 * n, 4);
    if (nbits == 1) {
      uint64_t u;
      std::memcpy(&u, blk, 8);
      u = transpose8x8(u);
      std::memcpy(blk, &u, 8);
    }
    std::memcpy(out + b * 8 * nbits, blk, static_cast<size_t>(8 * nbits));
  }
}

void twolevel_pack_codes_row(const uint8_t* c, int64_t K, int nbits, uint8_t* out) {
  const int64_t bb = twolevel_block_bytes(nbits);
  std::memset(out, 0, static_cast<size_t>(K / 64 * bb));
  for (int64_t b0 = 0; b0 < K; b0 += 64) {
    uint8_t* o = out + b0 / 64 * bb;
    const uint8_t* cb = c + b0;
    if (nbits == 4) {
      for (int i = 0; i < 32; ++i) o[i] = static_cast<uint8_t>((cb[i] & 15) | (cb[32 + i] << 4));
      continue;
    }
    if (nbits == 1) {  // code i is bit i of the block's 8 bytes (little-endian): a byte mask
      for (int i = 0; i < 64; ++i) o[i / 8] |= static_cast<uint8_t>((cb[i] & 1) << (i % 8));
      continue;
    }
    for (int i = 0; i < 64; ++i) o[i % 16] |= static_cast<uint8_t>((cb[i] & 3) << (2 * (i / 16)));
    if (nbits == 3)
      for (int i = 0; i < 64; ++i)
        o[16 + i / 8] |= static_cast<uint8_t>(((cb[i] >> 2) & 1) << (i % 8));
  }
}

void twolevel_unpack_codes_row(const uint8_t* p, int64_t K, int nbits, uint8_t* out) {
  const int64_t bb = twolevel_block_bytes(nbits);
  for (int64_t b0 = 0; b0 < K; b0 += 64) {
    const uint8_t* o = p + b0 / 64 * bb;
    uint8_t* cb = out + b0;
    if (nbits == 4) {
      for (int i = 0; i < 32; ++i) cb[i] = o[i] & 15, cb[32 + i] = o[i] >> 4;
      continue;
    }
    if (nbits == 1) {
      for (int i = 0; i < 64; ++i) cb[i] = (o[i / 8] >> (i % 8)) & 1;
      continue;
    }
    for (int i = 0; i < 64; ++i) cb[i] = (o[i % 16] >> (2 * (i / 16))) & 3;
    if (nbits == 3)
      for (int i = 0; i < 64; ++i)
        cb[i] |= static_cast<uint8_t>(((o[16 + i / 8] >> (i % 8)) & 1) << 2);
  }
}

void twolevel_pack_meta_row(const uint8_t* sq, const uint8_t* zq, int64_t groups, int sb, int zb,
                            uint8_t* out, int64_t out_bytes) {
  std::memset(out, 0, static_cast<size_t>(out_bytes));
  int64_t bit = 0;
  auto put = [&](uint32_t v, int n) {
    for (int k = 0; k < n; ++k, ++bit)
      out[bit / 8] |= static_cast<uint8_t>(((v >> k) & 1u) << (bit % 8));
  };
  for (int64_t j = 0; j < groups; ++j) put(sq[j], sb), put(zq[j], zb);
}

void twolevel_unpack_meta_row(const uint8_t* p, int64_t groups, int sb, int zb, uint8_t* sq,
                              uint8_t* zq) {
  if (sb == 4 && zb == 4) {  // the common case: one byte per sub-group
    for (int64_t j = 0; j < groups; ++j) sq[j] = p[j] & 15, zq[j] = p[j] >> 4;
    return;
  }
  int64_t bit = 0;
  auto get = [&](int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k, ++bit)
      v |= static_cast<uint32_t>((p[bit / 8] >> (bit % 8)) & 1) << k;
    return static_cast<uint8_t>(v);
  };
  for (int64_t j = 0; j < groups; ++j) sq[j] = get(sb), zq[j] = get(zb);
}

void twolevel_row_codes(const TwoLevelView& w, int64_t o, uint8_t* out) {
  const uint8_t* row = w.codes + o * w.code_row_bytes;
  if (w.interleaved) {
    thread_local std::vector<uint8_t> stored;
    stored.resize(static_cast<size_t>(w.code_row_bytes));
    twolevel_deinterleave_row(row, w.in, w.nbits, stored.data());
    row = stored.data();
  }
  twolevel_unpack_codes_row(row, w.in, w.nbits, out);
}

bool twolevel_interleaves(const TwoLevelView& w) {
  return use_vnni() && (w.nbits == 1 || w.nbits == 2) &&
         (w.group == 16 || w.group == 32 || w.group == 64) && w.scale_bits == 4 &&
         w.zero_bits == 4 && w.super_group == 256;
}

void twolevel_row_meta(const TwoLevelView& w, int64_t o, float* s, float* z) {
  const int64_t G = w.groups(), per_super = w.super_group / w.group;
  // Called once per row by every dequantizing loop (prefill tiles): no allocation per row.
  thread_local std::vector<uint8_t> sq, zq;
  sq.resize(static_cast<size_t>(G));
  zq.resize(static_cast<size_t>(G));
  twolevel_unpack_meta_row(w.meta + o * w.meta_row_bytes, G, w.scale_bits, w.zero_bits, sq.data(),
                           zq.data());
  const uint16_t* sp = w.super + o * (w.in / w.super_group) * 2;
  for (int64_t j = 0; j < G; ++j) {
    const int64_t b = j / per_super;
    s[j] = half_to_float(sp[2 * b]) * static_cast<float>(sq[j]);
    z[j] = half_to_float(sp[2 * b + 1]) * static_cast<float>(zq[j]);
  }
}

void twolevel_dequantize(const TwoLevelView& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  const int64_t G = w.groups();
  std::vector<float> s(static_cast<size_t>(G)), z(static_cast<size_t>(G));
  std::vector<uint8_t> q(static_cast<size_t>(w.in));
  for (int64_t o = o0; o < o1; ++o) {
    twolevel_row_meta(w, o, s.data(), z.data());
    twolevel_row_codes(w, o, q.data());
    float* row = out + (o - o0) * ld;
    for (int64_t i = 0; i < w.in; ++i) {
      const int64_t j = i / w.group;
      row[i] = (static_cast<float>(q[i]) - z[j]) * s[j];
    }
  }
}

void twolevel_dequantize_bf16(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                              int64_t ld) {
  if (use_vnni()) return twolevel_dequantize_bf16_vnni(w, o0, o1, out, ld);
  std::vector<float> row(static_cast<size_t>(w.in));
  for (int64_t o = o0; o < o1; ++o) {
    twolevel_dequantize(w, o, o + 1, row.data(), w.in);
    for (int64_t i = 0; i < w.in; ++i) out[(o - o0) * ld + i] = float_to_bf16(row[i]);
  }
}

TwoLevelX twolevel_prepare_x(const TwoLevelView& w, const float* x, int64_t rows) {
  TwoLevelX p;
  p.rows = rows;
  p.in = w.in;
  p.group = w.group;
  p.super_group = w.super_group;
  p.x = x;
  // The VNNI variant sums the int8 x it multiplies instead (the zero term must match it).
  if (use_vnni()) {
    twolevel_quantize_x_vnni(&p);
    if (w.interleaved) twolevel_interleave_x_vnni(&p);
    return p;
  }
  const int64_t G = w.groups(), g = w.group;
  p.xsum.resize(static_cast<size_t>(rows * G));
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t j = 0; j < G; ++j) {
      float a = 0;
      for (int64_t i = 0; i < g; ++i) a += x[m * w.in + j * g + i];
      p.xsum[static_cast<size_t>(m * G + j)] = a;
    }
  return p;
}

void twolevel_gemv_scalar(const TwoLevelView& w, const TwoLevelX& xp, float* y, int64_t ldy,
                          int64_t o0, int64_t o1) {
  const int64_t G = w.groups(), g = w.group;
  std::vector<float> s(static_cast<size_t>(G)), z(static_cast<size_t>(G));
  std::vector<uint8_t> q(static_cast<size_t>(w.in));
  for (int64_t o = o0; o < o1; ++o) {
    twolevel_row_meta(w, o, s.data(), z.data());
    twolevel_row_codes(w, o, q.data());
    for (int64_t m = 0; m < xp.rows; ++m) {
      const float* xm = xp.x + m * w.in;
      float acc = 0;
      for (int64_t j = 0; j < G; ++j) {
        float d = 0;
        for (int64_t i = 0; i < g; ++i) d += static_cast<float>(q[j * g + i]) * xm[j * g + i];
        acc += s[j] * (d - z[j] * xp.xsum[static_cast<size_t>(m * G + j)]);
      }
      y[m * ldy + o] = acc;
    }
  }
}

void twolevel_gemv(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
                   int64_t o1) {
  if (!x.q.empty() && w.interleaved) return twolevel_interleaved_gemv_vnni(w, x, y, ldy, o0, o1);
  if (!x.q.empty()) return twolevel_gemv_vnni(w, x, y, ldy, o0, o1);
  twolevel_gemv_scalar(w, x, y, ldy, o0, o1);
}

const char* twolevel_gemv_isa() {
  return use_vnni() ? "avx512vnni" : "scalar";
}

}  // namespace hqq::kernels
