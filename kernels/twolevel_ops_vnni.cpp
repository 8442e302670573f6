// AVX-512 VNNI product on the two-level layout: 64 codes become 64 bytes in two or three
// instructions and meet the int8 activations of their block in one vpdpbusd; each of its 16
// int32 lanes (4 inputs) lies in one sub-group, so the sub-group's integer scale code multiplies
// the lane exactly (vpdpwssd) and the sums stay int32 over a super-group, whose one activation
// step and fp16 scale apply once. The zero-point is a rank-1 term on sub-group sums of the same
// int8 x, so the product is exactly x_q · ŵ: its error is that of rounding x alone, not
// amplified by the codes' mean (about 2 % of the output with exact fp32 sums, 0.6 % this way,
// measured on Gaussian x). The meta of a row is read once, in place (4+4-bit meta) or unpacked
// into bytes (other widths). The first version expanded fp32 lane scales per row and read
// 1.6-5 GB/s of weights; this one 11-17 GB/s, where the plain 2-bit kernel reads 16-19 on the
// same machine (docs/RESULTS.md, "Two-level decode and prefill speed").
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/bf16_round_avx512.h"
#include "kernels/prefetch_rows.h"
#include "kernels/twolevel_ops.h"

namespace hqq::kernels {
namespace {

template <int NB>
inline __m512i codes64(const uint8_t* p) {
  if constexpr (NB == 1) {  // the block's 64 bits are a byte mask
    uint64_t u;
    std::memcpy(&u, p, 8);
    return _mm512_maskz_mov_epi8(_cvtu64_mask64(u), _mm512_set1_epi8(1));
  } else if constexpr (NB == 2 || NB == 3) {
    const __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 2, 2, 4, 4, 6, 6)),
                                 _mm512_set1_epi8(3));
    if constexpr (NB == 3)
      q = _mm512_mask_add_epi8(q, _cvtu64_mask64(*reinterpret_cast<const uint64_t*>(p + 16)), q,
                               _mm512_set1_epi8(4));
    return q;
  } else {
    const __m512i v =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)),
                            _mm512_set1_epi8(15));
  }
}

// Per-lane expansion of a block's sub-group meta: dpbusd leaves 16 int32 lanes of 4 inputs
// each, and lane l lies in sub-group l * 4 / G of the block. The block's bytes (one per
// sub-group: the 4+4-bit meta packed, or a row's unpacked scale codes) are broadcast to every
// 128-bit lane and one vpshufb puts byte l * 4 / G in the low byte of lane l, zeros above.
template <int G>
inline __m512i lane_index() {
  alignas(64) int8_t idx[64];
  for (int l = 0; l < 16; ++l)
    for (int k = 0; k < 4; ++k) idx[4 * l + k] = k == 0 ? static_cast<int8_t>(l * 4 / G) : -128;
  return _mm512_load_si512(idx);
}

template <int G>
inline __m512i lane_bytes(const uint8_t* p, __m512i idx) {
  // Exactly the block's 64 / G bytes are read: nothing past a row's meta.
  __m512i v;
  if constexpr (G == 8) {
    int64_t u;
    std::memcpy(&u, p, 8);
    v = _mm512_set1_epi64(u);
  } else if constexpr (G == 16) {
    int32_t u;
    std::memcpy(&u, p, 4);
    v = _mm512_set1_epi32(u);
  } else if constexpr (G == 32) {
    int16_t u;
    std::memcpy(&u, p, 2);
    v = _mm512_set1_epi16(u);
  } else {
    v = _mm512_set1_epi8(static_cast<char>(*p));
  }
  return _mm512_shuffle_epi8(v, idx);
}

// One output row against one activation row. ŵ = d·sq·(q − e·zq) per super-group (d, e) and
// sub-group (sq, zq), so y = Σ_super d·(Σ_i sq·q·x_i) − d·e·Σ_j sq_j·zq_j·X_j, X_j the sub-group
// sums of the int8 x (one step per super-group). The first sum stays integer over the
// super-group: |q·x| over a lane is at most 4 · 15 · 127 < 2^15, so vpdpwssd multiplies it by
// the lane's scale code exactly (the lanes' high halves are sign or zero) and adds it up; the
// step and d apply once per super-group.
// The zero term is one vector per 16 sub-groups. P44: meta is one byte per sub-group
// (scale code in the low nibble, zero code in the high one); otherwise sq and zq are the row's
// codes unpacked once.
// SGC: the super-group as a constant (256, every preset's: the loops unroll and fold) or 0.
template <int NB, int G, bool P44, int SGC>
float row_dot(const TwoLevelView& w, const uint8_t* codes, const uint8_t* sq, const uint8_t* zq,
              const uint16_t* sp, const TwoLevelX& x, int64_t m, __m512i idx) {
  constexpr int64_t bb = 64 * NB / 8, per_block = 64 / G;
  const int64_t K = w.in, SG = SGC > 0 ? SGC : w.super_group, bps = SG / 64, nps = SG / G;
  const int8_t* xq = x.q.data() + m * K;
  const float* step = x.step.data() + m * (K / SG);
  const float* xs = x.xsum.data() + m * (K / G);
  const __m512i nib = _mm512_set1_epi32(15);
  __m512 acc = _mm512_setzero_ps(), zacc = _mm512_setzero_ps();
  for (int64_t s = 0; s < K / SG; ++s) {
    const float d = _cvtsh_ss(sp[2 * s]), e = _cvtsh_ss(sp[2 * s + 1]);
    const __m512 dt = _mm512_set1_ps(d * step[s]);
    // Σ sq·q·x over the super-group in int32: a block adds at most 255 · 7620 per lane,
    // so the sum is flushed to fp32 every 1024 blocks (super-groups of 64 Ki inputs).
    for (int64_t b0 = s * bps; b0 < (s + 1) * bps; b0 += 1024) {
      auto block = [&](int64_t b, __m512i a) {
        const __m512i q = codes64<NB>(codes + b * bb);
        __m512i sl = lane_bytes<G>(sq + b * per_block, idx);
        if constexpr (P44) sl = _mm512_and_si512(sl, nib);
        const __m512i dp =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(xq + b * 64));
        return _mm512_dpwssd_epi32(a, dp, sl);  // |dp| < 2^15: the high halves add nothing
      };
      // Four independent sums: no chain of vpdpwssd latencies orders the blocks.
      const int64_t be = std::min(b0 + 1024, (s + 1) * bps);
      __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
      int64_t b = b0;
      for (; b + 4 <= be; b += 4)
        a0 = block(b, a0), a1 = block(b + 1, a1), a2 = block(b + 2, a2), a3 = block(b + 3, a3);
      for (; b < be; ++b) a0 = block(b, a0);
      const __m512i ai = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai), dt, acc);
    }
    const __m512 de = _mm512_set1_ps(d * e);
    for (int64_t c = 0; c < nps; c += 16) {
      const int64_t n = std::min<int64_t>(16, nps - c), j = s * nps + c;
      const __mmask16 k = static_cast<__mmask16>((1u << n) - 1u);
      __m512i sv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, sq + j)), zv;
      if constexpr (P44) {
        zv = _mm512_srli_epi32(sv, 4);
        sv = _mm512_and_si512(sv, nib);
      } else {
        zv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, zq + j));
      }
      const __m512 sz = _mm512_cvtepi32_ps(_mm512_madd_epi16(sv, zv));
      zacc = _mm512_fmadd_ps(_mm512_mul_ps(sz, _mm512_maskz_loadu_ps(k, xs + j)), de, zacc);
    }
  }
  return _mm512_reduce_add_ps(_mm512_sub_ps(acc, zacc));
}

template <int NB, int G>
void gemv(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
          int64_t o1) {
  const bool p44 = w.scale_bits == 4 && w.zero_bits == 4, sg256 = w.super_group == 256;
  const __m512i idx = lane_index<G>();
  const int64_t groups = w.groups();
  std::vector<uint8_t> sq, zq;
  if (!p44) sq.resize(static_cast<size_t>(groups)), zq.resize(static_cast<size_t>(groups));
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* codes = w.codes + o * w.code_row_bytes;
    const uint8_t* meta = w.meta + o * w.meta_row_bytes;
    // The codes and meta of two rows ahead, prefetched: without it the 2-bit layouts streamed
    // from DRAM at half their speed in cache (BM_TwoLevelGemv 2bit-tl-g16 860 µs, 370 with).
    if (o + 2 < o1) {
      prefetch_lines(codes + 2 * w.code_row_bytes, w.code_row_bytes);
      prefetch_lines(meta + 2 * w.meta_row_bytes, w.meta_row_bytes);
    }
    const uint16_t* sp = w.super + o * (w.in / w.super_group) * 2;
    if (!p44)
      twolevel_unpack_meta_row(meta, groups, w.scale_bits, w.zero_bits, sq.data(), zq.data());
    for (int64_t m = 0; m < x.rows; ++m)
      y[m * ldy + o] =
          p44 && sg256 ? row_dot<NB, G, true, 256>(w, codes, meta, nullptr, sp, x, m, idx)
          : p44        ? row_dot<NB, G, true, 0>(w, codes, meta, nullptr, sp, x, m, idx)
                       : row_dot<NB, G, false, 0>(w, codes, sq.data(), zq.data(), sp, x, m, idx);
  }
}

template <int NB>
void gemv_bits(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
               int64_t o1) {
  switch (w.group) {
    case 8:
      return gemv<NB, 8>(w, x, y, ldy, o0, o1);
    case 16:
      return gemv<NB, 16>(w, x, y, ldy, o0, o1);
    case 32:
      return gemv<NB, 32>(w, x, y, ldy, o0, o1);
    default:
      return gemv<NB, 64>(w, x, y, ldy, o0, o1);
  }
}

// Rows of ŵ = (q − z_j) · s_j in bf16, 16 at a time, computed as the portable fp32
// twolevel_dequantize computes them (same operations, same order), then rounded.
template <int NB, int G>
void dequantize_bf16_rows(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                          int64_t ld) {
  constexpr int64_t bb = 64 * NB / 8;
  const int64_t K = w.in, groups = w.groups();
  std::vector<float> s(static_cast<size_t>(groups)), z(static_cast<size_t>(groups));
  std::vector<uint8_t> stored(w.interleaved ? static_cast<size_t>(w.code_row_bytes) : 0);
  for (int64_t o = o0; o < o1; ++o) {
    twolevel_row_meta(w, o, s.data(), z.data());
    const uint8_t* codes = w.codes + o * w.code_row_bytes;
    if (w.interleaved) {  // back to the stored order, a row at a time (a copy of 4n-byte words)
      twolevel_deinterleave_row(codes, K, NB, stored.data());
      codes = stored.data();
    }
    uint16_t* row = out + (o - o0) * ld;
    for (int64_t b = 0; b < K / 64; ++b) {
      const __m512i q = codes64<NB>(codes + b * bb);
      // 16 codes (one 128-bit lane of q) at inputs b * 64 + 16 * k.
      auto put = [&](int k, __m128i c16) {
        const int64_t i0 = b * 64 + 16 * k, j = i0 / G;
        __m512 sv, zv;
        if constexpr (G == 8) {  // two sub-groups in these 16
          sv = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(s[j]), _mm512_set1_ps(s[j + 1]));
          zv = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(z[j]), _mm512_set1_ps(z[j + 1]));
        } else {
          sv = _mm512_set1_ps(s[j]);
          zv = _mm512_set1_ps(z[j]);
        }
        const __m512 qf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c16));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + i0),
                            round_to_bf16_avx512(_mm512_mul_ps(_mm512_sub_ps(qf, zv), sv)));
      };
      // Lane indices are immediates: spelled out, so that -O0/-O1 builds (sanitizers) compile.
      put(0, _mm512_extracti32x4_epi32(q, 0));
      put(1, _mm512_extracti32x4_epi32(q, 1));
      put(2, _mm512_extracti32x4_epi32(q, 2));
      put(3, _mm512_extracti32x4_epi32(q, 3));
    }
  }
}

template <int NB>
void dequantize_bf16_bits(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                          int64_t ld) {
  switch (w.group) {
    case 8:
      return dequantize_bf16_rows<NB, 8>(w, o0, o1, out, ld);
    case 16:
      return dequantize_bf16_rows<NB, 16>(w, o0, o1, out, ld);
    case 32:
      return dequantize_bf16_rows<NB, 32>(w, o0, o1, out, ld);
    default:
      return dequantize_bf16_rows<NB, 64>(w, o0, o1, out, ld);
  }
}

}  // namespace

void twolevel_quantize_x_vnni(TwoLevelX* p) {
  // One step per super-group (as llama.cpp's Q8_K has one per 256 for its k-quants): the
  // product then sums whole super-groups in int32 (row_dot), two vector instructions fewer per
  // 64 weights.
  const int64_t K = p->in, SG = p->super_group, supers = K / SG;
  p->q.resize(static_cast<size_t>(p->rows * K));
  p->step.resize(static_cast<size_t>(p->rows * supers));
  for (int64_t m = 0; m < p->rows; ++m)
    for (int64_t s0 = 0; s0 < K; s0 += SG) {
      const float* xs = p->x + m * K + s0;
      __m512 mx = _mm512_setzero_ps();
      for (int64_t k = 0; k < SG; k += 16)
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xs + k)));
      const float amax = _mm512_reduce_max_ps(mx);
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      p->step[static_cast<size_t>(m * supers + s0 / SG)] = amax / 127.0f;
      int8_t* qs = p->q.data() + m * K + s0;
      for (int64_t k = 0; k < SG; k += 16) {
        const __m512i i32 =
            _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + k), _mm512_set1_ps(inv)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + k), _mm512_cvtsepi32_epi8(i32));
      }
    }
  // Sub-group sums of the rounded x (a sub-group never straddles a super-group).
  const int64_t g = p->group, G = K / g;
  p->xsum.resize(static_cast<size_t>(p->rows * G));
  for (int64_t m = 0; m < p->rows; ++m)
    for (int64_t jj = 0; jj < G; ++jj) {
      const int8_t* qg = p->q.data() + m * K + jj * g;
      int32_t sum = 0;
      for (int64_t i = 0; i < g; ++i) sum += qg[i];
      p->xsum[static_cast<size_t>(m * G + jj)] =
          static_cast<float>(sum) * p->step[static_cast<size_t>(m * supers + jj * g / SG)];
    }
}

void twolevel_gemv_vnni(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy,
                        int64_t o0, int64_t o1) {
  switch (w.nbits) {
    case 1:
      return gemv_bits<1>(w, x, y, ldy, o0, o1);
    case 2:
      return gemv_bits<2>(w, x, y, ldy, o0, o1);
    case 3:
      return gemv_bits<3>(w, x, y, ldy, o0, o1);
    default:
      return gemv_bits<4>(w, x, y, ldy, o0, o1);
  }
}

void twolevel_dequantize_bf16_vnni(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                                   int64_t ld) {
  switch (w.nbits) {
    case 1:
      return dequantize_bf16_bits<1>(w, o0, o1, out, ld);
    case 2:
      return dequantize_bf16_bits<2>(w, o0, o1, out, ld);
    case 3:
      return dequantize_bf16_bits<3>(w, o0, o1, out, ld);
    default:
      return dequantize_bf16_bits<4>(w, o0, o1, out, ld);
  }
}

}  // namespace hqq::kernels
