// AVX2 kernels on the Blocks64 layout for 2-, 4- and 8-bit codes: the scheme of the VNNI kernels
// (lowbit_ops_vnni.cpp) with the instructions an AVX2-only CPU has (AMD Zen 2/3, most laptops
// before 2021). Activations are rounded to int8 per block of 64 inputs with a scale per block;
// a block's 64 codes become two vectors of 32 bytes (inputs 0-31 and 32-63) in two or three
// instructions; vpmaddubsw multiplies them with the activations into int16 pair sums (at most
// 2 · 15 · 127, no saturation for codes below 16) and vpmaddwd with ones widens them to int32.
// Scale and the activations' step apply per block (or per group) in fp32; the zero-point is the
// usual rank-1 term on exact fp32 group sums of x. The exact bit-plane kernels (avx2) do a masked
// add per code bit and plane, about 4x the instructions at 4 bits; they keep 1 and 3 bits.
#define HQQ_LOWBIT_NS avx2int8
#include <immintrin.h>

#include <type_traits>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/lowbit_dispatch.h"
#include "kernels/lowbit_ops.h"
#include "kernels/lowbit_row.h"

namespace hqq::kernels {

namespace {

using avx2int8::row_meta;
using avx2int8::zero_term;

bool supports(const LowbitMatrix& w) {
  return w.layout == LowbitLayout::Blocks64 && (w.nbits == 2 || w.nbits == 4 || w.nbits == 8) &&
         w.group % 4 == 0 && (w.group % 64 == 0 || 64 % w.group == 0);
}

// A block's codes as bytes: lo = inputs 0-31, hi = inputs 32-63 (lowbit_matrix.h's layout:
// 4-bit byte b holds inputs b and b+32; 2-bit byte b holds b, b+16, b+32, b+48).
template <int NB>
inline void codes64(const uint8_t* p, __m256i* lo, __m256i* hi) {
  if constexpr (NB == 8) {
    *lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    *hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
  } else if constexpr (NB == 4) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i m = _mm256_set1_epi8(15);
    *lo = _mm256_and_si256(v, m);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
  } else {
    const __m256i v =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i m = _mm256_set1_epi8(3);
    *lo = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 2, 2)), m);
    *hi = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(4, 4, 6, 6)), m);
  }
}

// Activations of `rows` rows as int8 per block of 64 with a scale per block (absmax / 127),
// rounded to nearest as the VNNI kernels round them.
struct QuantizedX {
  std::vector<int8_t> q;    // [rows][in_padded]
  std::vector<float> step;  // [rows][blocks]
};

void quantize_x(const float* x, int64_t rows, int64_t in_padded, QuantizedX* out) {
  const int64_t blocks = in_padded / 64;
  out->q.resize(static_cast<size_t>(rows * in_padded));
  out->step.resize(static_cast<size_t>(rows * blocks));
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // packs works within 128-bit lanes: this puts the 32 bytes back in input order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xb = x + m * in_padded + b * 64;
      __m256 mx = _mm256_setzero_ps();
      for (int k = 0; k < 8; ++k)
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * k), abs_mask));
      __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
      h = _mm_max_ps(h, _mm_movehl_ps(h, h));
      h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
      const float amax = _mm_cvtss_f32(h);
      const float step = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
      out->step[static_cast<size_t>(m * blocks + b)] = step;
      int8_t* qb = out->q.data() + m * in_padded + b * 64;
      const __m256 iv = _mm256_set1_ps(inv);
      for (int half = 0; half < 2; ++half) {
        __m256i i32[4];
        for (int k = 0; k < 4; ++k)
          i32[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * half + 8 * k), iv));
        const __m256i i16a = _mm256_packs_epi32(i32[0], i32[1]);
        const __m256i i16b = _mm256_packs_epi32(i32[2], i32[3]);
        const __m256i i8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i16a, i16b), order);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + 32 * half), i8);
      }
    }
}

// int32 sums of 4 consecutive inputs per lane: lane l of the result covers inputs 4l..4l+3 of
// the 32 the codes and activations stand for. 8-bit codes would overflow vpmaddubsw's int16
// pair sums (2 · 255 · 127): they go in as two nibbles, the high one weighted by 16.
template <int NB>
inline __m256i dot32(__m256i codes, const int8_t* x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  if constexpr (NB == 8) {
    const __m256i m = _mm256_set1_epi8(15);
    const __m256i l = _mm256_maddubs_epi16(_mm256_and_si256(codes, m), xv);
    const __m256i h = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(codes, 4), m), xv);
    return _mm256_add_epi32(_mm256_madd_epi16(h, _mm256_set1_epi16(16)),
                            _mm256_madd_epi16(l, _mm256_set1_epi16(1)));
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, xv), _mm256_set1_epi16(1));
  }
}

template <int NB, int M>
void gemv_rows(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, float* y,
               int64_t ldy, int64_t o0, int64_t o1) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row(), g = w.group;
  // Groups smaller than a block: lane l of a 32-input half is input 4l, of group 4l / g of it.
  alignas(32) int32_t lane_group[8];
  for (int l = 0; l < 8; ++l) lane_group[l] = g < 64 ? static_cast<int32_t>(4 * l / g) : 0;
  const __m256i lane_idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(lane_group));
  std::vector<float> s(static_cast<size_t>(groups + 32), 0.0f), u(static_cast<size_t>(groups));
  std::vector<float> c(static_cast<size_t>(M * blocks));  // scale × step per (row, block)
  const int64_t row_bytes = w.row_bytes(), blk_bytes = 8 * NB;
  const int64_t per_group = g >= 64 ? g / 64 : 0, groups_per_block = g < 64 ? 64 / g : 0;
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * row_bytes;
    // Two independent accumulators per activation row: FMA latency, not throughput, would
    // bound a single chain.
    __m256 acc[M][2];
    for (int m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    if (per_group > 0) {
      // No division per block (it cost as much as the block's products).
      for (int m = 0; m < M; ++m) {
        float* cm = c.data() + m * blocks;
        const float* step = xq.step.data() + m * blocks;
        if (per_group == 1) {
          for (int64_t b = 0; b < blocks; ++b) cm[b] = s[static_cast<size_t>(b)] * step[b];
        } else {
          for (int64_t b = 0, gi = 0, left = per_group; b < blocks; ++b) {
            cm[b] = s[static_cast<size_t>(gi)] * step[b];
            if (--left == 0) ++gi, left = per_group;
          }
        }
      }
      // k must be a compile-time index (an unrolled pair of blocks), or acc would live in memory.
      auto block = [&](int64_t b, int k) __attribute__((always_inline)) {
        __m256i lo, hi;
        codes64<NB>(row + b * blk_bytes, &lo, &hi);
        for (int m = 0; m < M; ++m) {
          const int8_t* xb = xq.q.data() + m * w.in_padded + b * 64;
          __m256i d;
          if constexpr (NB == 8) {
            d = _mm256_add_epi32(dot32<8>(lo, xb), dot32<8>(hi, xb + 32));
          } else {
            // One group: the two halves' int16 pair sums add before widening (at most 7620).
            const __m256i p = _mm256_add_epi16(
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb))),
                _mm256_maddubs_epi16(
                    hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 32))));
            d = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
          }
          acc[m][k] =
              _mm256_fmadd_ps(_mm256_cvtepi32_ps(d),
                              _mm256_set1_ps(c[static_cast<size_t>(m * blocks + b)]), acc[m][k]);
        }
      };
      int64_t b = 0;
      for (; b + 2 <= blocks; b += 2) {
        block(b, 0);
        block(b + 1, 1);
      }
      if (b < blocks) block(b, 0);
    } else {
      for (int64_t b = 0; b < blocks; ++b) {
        __m256i lo, hi;
        codes64<NB>(row + b * blk_bytes, &lo, &hi);
        const float* sb = &s[static_cast<size_t>(b * groups_per_block)];
        const __m256 s_lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(sb), lane_idx);
        const __m256 s_hi =
            _mm256_permutevar8x32_ps(_mm256_loadu_ps(sb + groups_per_block / 2), lane_idx);
        for (int m = 0; m < M; ++m) {
          const int8_t* xb = xq.q.data() + m * w.in_padded + b * 64;
          const __m256 step = _mm256_set1_ps(xq.step[static_cast<size_t>(m * blocks + b)]);
          acc[m][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32<NB>(lo, xb)),
                                      _mm256_mul_ps(s_lo, step), acc[m][0]);
          acc[m][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32<NB>(hi, xb + 32)),
                                      _mm256_mul_ps(s_hi, step), acc[m][1]);
        }
      }
    }
    for (int m = 0; m < M; ++m) {
      const __m256 a = _mm256_add_ps(acc[m][0], acc[m][1]);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
      y[m * ldy + o] = _mm_cvtss_f32(h) + zero_term(u.data(), xsum + m * groups, groups);
    }
  }
}

template <int NB>
void gemv_nb(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, int64_t rows, float* y,
             int64_t ldy, int64_t o0, int64_t o1) {
  with_rows(rows, [&](auto M) { gemv_rows<NB, M.value>(w, xq, xsum, y, ldy, o0, o1); });
}

void gemv(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
          int64_t ldy, int64_t o0, int64_t o1) {
  in_activation_batches<QuantizedX>(
      w.in_padded, w.groups_per_row(), x, xsum, rows, y, ldy, quantize_x,
      [&](const QuantizedX& xq, const float* xs, int64_t r, float* ym) {
        with_int8_nbits(w.nbits,
                        [&](auto NB) { gemv_nb<NB.value>(w, xq, xs, r, ym, ldy, o0, o1); });
      });
}

// Rounds 8 floats to bf16, to nearest even (finite inputs: weights are).
inline __m128i to_bf16(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i r =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  // Each word is at most 0xffff: the unsigned saturation of the pack never bites.
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

// T: float, or uint16_t for bf16 rows.
template <int NB, typename T>
void dequantize_nb(const LowbitMatrix& w, int64_t o0, int64_t o1, T* out, int64_t ld) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row();
  std::vector<float> s(static_cast<size_t>(groups)), u(static_cast<size_t>(groups));
  alignas(32) uint8_t codes[64];
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * w.row_bytes();
    T* dst = out + (o - o0) * ld;
    for (int64_t b = 0; b < blocks; ++b) {
      __m256i lo, hi;
      codes64<NB>(row + b * 8 * NB, &lo, &hi);
      _mm256_store_si256(reinterpret_cast<__m256i*>(codes), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 32), hi);
      for (int k = 0; k < 8; ++k) {
        const int64_t i0 = b * 64 + 8 * k;
        if (i0 >= w.in) break;
        const __m256 q = _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + 8 * k))));
        __m256 sv, uv;
        if (w.group >= 8) {  // groups are multiples of 4: 8 inputs span one group, or two of 4
          sv = _mm256_set1_ps(s[static_cast<size_t>(i0 / w.group)]);
          uv = _mm256_set1_ps(u[static_cast<size_t>(i0 / w.group)]);
        } else {
          const int64_t g0 = i0 / w.group, g1 = std::min<int64_t>(g0 + 1, groups - 1);
          sv = _mm256_setr_m128(_mm_set1_ps(s[static_cast<size_t>(g0)]),
                                _mm_set1_ps(s[static_cast<size_t>(g1)]));
          uv = _mm256_setr_m128(_mm_set1_ps(u[static_cast<size_t>(g0)]),
                                _mm_set1_ps(u[static_cast<size_t>(g1)]));
        }
        const __m256 v = _mm256_fmadd_ps(q, sv, uv);
        if constexpr (std::is_same_v<T, float>) {
          if (i0 + 8 <= w.in) {
            _mm256_storeu_ps(dst + i0, v);
          } else {
            alignas(32) float tmp[8];
            _mm256_store_ps(tmp, v);
            for (int64_t i = i0; i < w.in; ++i) dst[i] = tmp[i - i0];
          }
        } else {
          const __m128i h = to_bf16(v);
          if (i0 + 8 <= w.in) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i0), h);
          } else {
            alignas(16) uint16_t tmp[8];
            _mm_store_si128(reinterpret_cast<__m128i*>(tmp), h);
            for (int64_t i = i0; i < w.in; ++i) dst[i] = tmp[i - i0];
          }
        }
      }
    }
  }
}

void dequantize(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  with_int8_nbits(w.nbits, [&](auto NB) { dequantize_nb<NB.value>(w, o0, o1, out, ld); });
}

void dequantize_bf16(const LowbitMatrix& w, int64_t o0, int64_t o1, uint16_t* out, int64_t ld) {
  with_int8_nbits(w.nbits, [&](auto NB) { dequantize_nb<NB.value>(w, o0, o1, out, ld); });
}

}  // namespace

extern const LowbitOps kLowbitOps_avx2int8 = {"avx2int8", false,      supports,
                                              gemv,       dequantize, dequantize_bf16};

}  // namespace hqq::kernels
