// The SIMD low-bit kernels, written once over a 16-lane float vector `V` and compiled per ISA:
// AVX-512 (one zmm register) or AVX2 (a pair of ymm registers). Included by
// lowbit_ops_avx512.cpp / lowbit_ops_avx2.cpp with HQQ_LOWBIT_NS naming the variant.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/lowbit_dispatch.h"
#include "kernels/lowbit_ops.h"
#include "kernels/lowbit_row.h"

namespace hqq::kernels::HQQ_LOWBIT_NS {

#if defined(__AVX512F__)
using V = __m512;
inline V vzero() {
  return _mm512_setzero_ps();
}
inline V vset1(float f) {
  return _mm512_set1_ps(f);
}
inline V vload(const float* p) {
  return _mm512_loadu_ps(p);
}
inline void vstore(float* p, V v) {
  _mm512_storeu_ps(p, v);
}
inline V vadd(V a, V b) {
  return _mm512_add_ps(a, b);
}
inline V vfma(V a, V b, V c) {
  return _mm512_fmadd_ps(a, b, c);
}
// t + x on the lanes whose bit is set: the whole "multiplication" by a bit plane.
inline V vmask_add(V t, uint16_t mask, V x) {
  return _mm512_mask_add_ps(t, mask, t, x);
}
// Lanes 0-7 from a, 8-15 from b.
inline V vhalves(V a, V b) {
  return _mm512_mask_blend_ps(0xFF00, a, b);
}
inline float vsum(V v) {
  return _mm512_reduce_add_ps(v);
}
inline V vbytes(const uint8_t* p) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
#else
struct V {
  __m256 lo, hi;
};
inline V vzero() {
  return {_mm256_setzero_ps(), _mm256_setzero_ps()};
}
inline V vset1(float f) {
  return {_mm256_set1_ps(f), _mm256_set1_ps(f)};
}
inline V vload(const float* p) {
  return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
inline void vstore(float* p, V v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
inline V vadd(V a, V b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
inline V vfma(V a, V b, V c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
// AVX2 has no mask registers: spread the 16 bits over the lanes (and + compare), then add the
// selected x.
inline V vmask_add(V t, uint16_t mask, V x) {
  const __m256i lo_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i hi_bits = _mm256_slli_epi32(lo_bits, 8);
  const __m256i m = _mm256_set1_epi32(mask);
  const __m256 sel_lo =
      _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(m, lo_bits), lo_bits));
  const __m256 sel_hi =
      _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(m, hi_bits), hi_bits));
  return {_mm256_add_ps(t.lo, _mm256_and_ps(sel_lo, x.lo)),
          _mm256_add_ps(t.hi, _mm256_and_ps(sel_hi, x.hi))};
}
inline V vhalves(V a, V b) {
  return {a.lo, b.hi};
}
inline float vsum(V v) {
  __m256 s = _mm256_add_ps(v.lo, v.hi);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
inline V vbytes(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)),
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)))};
}
#endif

inline bool supports(const LowbitMatrix& w) {
  return w.layout == LowbitLayout::BitPlanes16 && (w.group % 16 == 0 || w.group == 8);
}

// Planes kept by a block loop: one accumulator per bit plane, so the masked adds of a block are
// independent (a single accumulator would chain them on the add latency).
template <int NB>
constexpr int kPlanes = NB == 8 ? 1 : NB;

// x · q over one block of 16 inputs for M activation rows: plane p's mask adds the selected x
// into t[m][p] (weighted by 2^p when the group is closed); 8-bit codes are widened and
// multiplied.
template <int NB, int M>
inline void block_dot(const LowbitMatrix& w, const uint16_t* masks, const uint8_t* bytes,
                      const float* x, int64_t block, V (*t)[kPlanes<NB>]) {
  if constexpr (NB == 8) {
    const V q = vbytes(bytes + block * 16);
    for (int m = 0; m < M; ++m) t[m][0] = vfma(q, vload(x + m * w.in_padded + block * 16), t[m][0]);
  } else {
    uint16_t mk[NB];
    for (int p = 0; p < NB; ++p) mk[p] = masks[block * NB + p];
    for (int m = 0; m < M; ++m) {
      const V xv = vload(x + m * w.in_padded + block * 16);
      for (int p = 0; p < NB; ++p) t[m][p] = vmask_add(t[m][p], mk[p], xv);
    }
  }
}

// Σ_p 2^p · t[p], then scaled into acc: the group's contribution.
template <int NB>
inline V close_group(const V* t, V scale, V acc) {
  V q = t[0];
  for (int p = 1; p < kPlanes<NB>; ++p) q = vfma(vset1(static_cast<float>(1 << p)), t[p], q);
  return vfma(scale, q, acc);
}

template <int NB, int M>
void gemv_rows(const LowbitMatrix& w, const float* x, const float* xsum, float* y, int64_t ldy,
               int64_t o0, int64_t o1) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row();
  std::vector<float> s(static_cast<size_t>(groups)), u(static_cast<size_t>(groups));
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * w.row_bytes();
    const uint16_t* masks = reinterpret_cast<const uint16_t*>(row);
    const uint8_t* bytes = row;
    V acc[M];
    for (int m = 0; m < M; ++m) acc[m] = vzero();
    V t[M][kPlanes<NB>];
    auto clear = [&] {
      for (int m = 0; m < M; ++m)
        for (int p = 0; p < kPlanes<NB>; ++p) t[m][p] = vzero();
    };
    if (w.group == 8) {  // two groups per block: a scale per half
      for (int64_t b = 0; b < blocks; ++b) {
        clear();
        block_dot<NB, M>(w, masks, bytes, x, b, t);
        const int64_t g0 = 2 * b, g1 = g0 + 1;
        const V sv = vhalves(vset1(s[g0]), vset1(g1 < groups ? s[g1] : 0.0f));
        for (int m = 0; m < M; ++m) acc[m] = close_group<NB>(t[m], sv, acc[m]);
      }
    } else {
      const int64_t per_group = w.group / 16;
      for (int64_t g = 0; g < groups; ++g) {
        clear();
        for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b)
          block_dot<NB, M>(w, masks, bytes, x, b, t);
        for (int m = 0; m < M; ++m) acc[m] = close_group<NB>(t[m], vset1(s[g]), acc[m]);
      }
    }
    for (int m = 0; m < M; ++m) {
      y[m * ldy + o] = vsum(acc[m]) + zero_term(u.data(), xsum + m * groups, groups);
    }
  }
}

template <int NB>
void gemv_nb(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
             int64_t ldy, int64_t o0, int64_t o1) {
  with_rows(rows, [&](auto M) { gemv_rows<NB, M.value>(w, x, xsum, y, ldy, o0, o1); });
}

inline void gemv(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
                 int64_t ldy, int64_t o0, int64_t o1) {
  // Wider batches run as several passes of at most kMaxGemvRows rows.
  for (int64_t m0 = 0; m0 < rows; m0 += kMaxGemvRows) {
    const int64_t r = std::min<int64_t>(kMaxGemvRows, rows - m0);
    const float* xm = x + m0 * w.in_padded;
    const float* xs = xsum + m0 * w.groups_per_row();
    float* ym = y + m0 * ldy;
    with_nbits(w.nbits, [&](auto NB) { gemv_nb<NB.value>(w, xm, xs, r, ym, ldy, o0, o1); });
  }
}

// Codes of one block as floats.
template <int NB>
inline V block_codes(const LowbitMatrix& w, int64_t o, int64_t b) {
  if constexpr (NB == 8) {
    return vbytes(w.codes + o * w.row_bytes() + b * 16);
  } else {
    const uint16_t* mk = reinterpret_cast<const uint16_t*>(w.codes + o * w.row_bytes()) + b * NB;
    V q = vzero();
    for (int p = 0; p < NB; ++p) q = vmask_add(q, mk[p], vset1(static_cast<float>(1 << p)));
    return q;
  }
}

template <int NB>
void dequantize_nb(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row();
  std::vector<float> s(static_cast<size_t>(groups)), u(static_cast<size_t>(groups));
  float tail[16];
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    float* row = out + (o - o0) * ld;
    for (int64_t b = 0; b < blocks; ++b) {
      V sv, uv;
      if (w.group == 8) {
        const int64_t g0 = 2 * b, g1 = std::min(g0 + 1, groups - 1);
        sv = vhalves(vset1(s[g0]), vset1(s[g1]));
        uv = vhalves(vset1(u[g0]), vset1(u[g1]));
      } else {
        const int64_t g = b * 16 / w.group;
        sv = vset1(s[g]);
        uv = vset1(u[g]);
      }
      const V wv = vfma(block_codes<NB>(w, o, b), sv, uv);  // (q - z)·s = q·s + u
      if ((b + 1) * 16 <= w.in) {
        vstore(row + b * 16, wv);
      } else {  // the padded tail
        vstore(tail, wv);
        for (int64_t i = b * 16; i < w.in; ++i) row[i] = tail[i - b * 16];
      }
    }
  }
}

inline void dequantize(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  with_nbits(w.nbits, [&](auto NB) { dequantize_nb<NB.value>(w, o0, o1, out, ld); });
}

}  // namespace hqq::kernels::HQQ_LOWBIT_NS
