// AVX-512 VNNI product on interleaved two-level codes (twolevel_ops.h): 1- and 2-bit codes,
// 4+4-bit meta, super-groups of 256. As in the plain Blocks64x16 kernel (lowbit_ops_vnni16.cpp),
// one vpdpbusd multiplies 4 inputs of each of a run's 16 blocks and each block's int32 sum stays
// in its own lane; planes are masked at their own bit position, not shifted. What differs is the
// meta: the run's sub-group bytes (one per sub-group, scale code low, zero code high) load as
// one vector whose dword l holds block l's, and a vpermps from a 16-entry table turns a nibble
// of every lane into its scale at once (the index uses bits 0-3 only, so no mask). Per run of
// 1024 inputs that is a shift and a vpermps per accumulator where the per-block kernel
// (twolevel_ops_vnni.cpp) spends a broadcast, a shift, a mask, a vpshufb and a vpdpwssd per
// 64 inputs. The zero term is taken per run from the same vector, on sub-group sums of the
// same int8 x, so the product stays exactly x_q · ŵ up to fp32 rounding.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/lowbit_dispatch.h"
#include "kernels/lowbit_matrix.h"
#include "kernels/prefetch_rows.h"
#include "kernels/twolevel_ops.h"

namespace hqq::kernels {
namespace {

// The mask of a run of n blocks' vectors (4n bytes).
inline __mmask64 run_bytes(int64_t n) {
  return n >= kRunBlocks ? ~__mmask64{0} : (__mmask64{1} << (4 * n)) - 1;
}

// Lanes' meta: dword l = the bytes of block l's sub-groups (GB of them), zero past the run.
template <int GB>
inline __m512i lane_meta(const uint8_t* m, int64_t n) {
  const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1u);
  if constexpr (GB == 4) return _mm512_maskz_loadu_epi8(run_bytes(n), m);
  if constexpr (GB == 2) return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, m));
  return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes, m));
}

// NB-bit codes, sub-groups of 64 / GB inputs, activation rows [m0, m0 + M).
template <int NB, int GB, int M>
void gemv_rows(const TwoLevelView& w, const TwoLevelX& x, int64_t m0, float* y, int64_t ldy,
               int64_t o0, int64_t o1) {
  constexpr int S = 8 / NB;           // planes per byte
  constexpr int V = 2 * NB;           // 64-byte vectors per run
  constexpr int A = S > GB ? S : GB;  // int32 accumulators: one per (plane, sub-group) pair
  // Accumulator a's plane and sub-group (every dpbusd's 4 inputs lie in one sub-group).
  constexpr auto plane_of = [](int a) { return GB >= S ? a * S / GB : a; };
  constexpr auto group_of = [](int a) { return GB >= S ? a : a * GB / S; };
  const int64_t blocks = w.in / 64, runs = (blocks + kRunBlocks - 1) / kRunBlocks;
  const int64_t supers = w.in / 256;
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // Lane l of a run is block l, in super-group l / 4 of the run's four.
  const __m512i super_d = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
  const __m512i super_e = _mm512_add_epi32(super_d, _mm512_set1_epi32(1));
  const __m512i super_s = _mm512_srli_epi32(super_d, 1);
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* codes = w.codes + o * w.code_row_bytes;
    const uint8_t* meta = w.meta + o * w.meta_row_bytes;
    const uint16_t* sp = w.super + o * supers * 2;
    if (o + 2 < o1) {  // two rows ahead, as every decode kernel here (kernels/prefetch_rows.h)
      prefetch_lines(codes + 2 * w.code_row_bytes, w.code_row_bytes);
      prefetch_lines(meta + 2 * w.meta_row_bytes, w.meta_row_bytes);
      prefetch_lines(sp + 4 * supers, supers * 4);
    }
    __m512 acc[M], zacc[M];
    for (int m = 0; m < M; ++m) acc[m] = zacc[m] = _mm512_setzero_ps();
    for (int64_t r = 0; r < runs; ++r) {
      const int64_t n = std::min<int64_t>(kRunBlocks, blocks - r * kRunBlocks);
      const __mmask64 mask = run_bytes(n);
      const uint8_t* run = codes + r * kRunBlocks * 8 * NB;
      const __m512i mt = lane_meta<GB>(meta + r * kRunBlocks * GB, n);
      // The run's (d, e) pairs (n / 4 of them; zero past the row) spread over their lanes.
      const __m512 de = _mm512_castps256_ps512(_mm256_cvtph_ps(
          _mm_maskz_loadu_epi16(static_cast<__mmask8>((1u << (n / 2)) - 1u), sp + r * 8)));
      const __m512 d = _mm512_permutexvar_ps(super_d, de);
      const __m512 dxe = _mm512_mul_ps(d, _mm512_permutexvar_ps(super_e, de));
      // The lanes' scales per accumulator (the plane's 2^(NB·p) folded in through the table)
      // and sq · zq per sub-group: the same for every activation row.
      __m512 sq[A], sz[GB];
      static_for<A>([&](auto a) {
        constexpr int p = plane_of(a.value), gi = group_of(a.value);
        const __m512 table = _mm512_mul_ps(iota, _mm512_set1_ps(1.0f / float(1 << (NB * p))));
        sq[a.value] = _mm512_permutexvar_ps(_mm512_srli_epi32(mt, 8 * gi), table);
      });
      static_for<GB>([&](auto gi) {
        sz[gi.value] =
            _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(mt, 8 * gi.value), iota),
                          _mm512_permutexvar_ps(_mm512_srli_epi32(mt, 8 * gi.value + 4), iota));
      });
      for (int m = 0; m < M; ++m) {
        const int32_t* xr = x.qt.data() + ((m0 + m) * runs + r) * 256;
        __m512i ai[A];
        static_for<A>([&](auto a) { ai[a.value] = _mm512_setzero_si512(); });
        static_for<V>([&](auto v) {
          const __m512i c = _mm512_maskz_loadu_epi8(mask, run + v.value * 4 * n);
          static_for<S>([&](auto p) {
            constexpr int j = p.value * V + v.value;  // inputs 4j..4j+3 of every block
            constexpr int a = GB >= S ? 4 * j * GB / 64 : p.value;
            const __m512i q = _mm512_and_si512(
                c, _mm512_set1_epi8(static_cast<char>(((1 << NB) - 1) << (NB * p.value))));
            ai[a] = _mm512_dpbusd_epi32(ai[a], q, _mm512_loadu_si512(xr + 16 * j));
          });
        });
        // Σ sq · q · x_q per lane, and Σ sq · zq · X over its sub-groups (X: sums of x_q).
        __m512 u = _mm512_setzero_ps(), z = _mm512_setzero_ps();
        static_for<A>(
            [&](auto a) { u = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[a.value]), sq[a.value], u); });
        const float* xs = x.xsum_t.data() + ((m0 + m) * runs + r) * GB * 16;
        static_for<GB>([&](auto gi) {
          z = _mm512_fmadd_ps(sz[gi.value], _mm512_loadu_ps(xs + 16 * gi.value), z);
        });
        const __m512 step = _mm512_permutexvar_ps(
            super_s,
            _mm512_castps128_ps512(_mm_maskz_loadu_ps(static_cast<__mmask8>((1u << (n / 4)) - 1u),
                                                      x.step.data() + (m0 + m) * supers + r * 4)));
        acc[m] = _mm512_fmadd_ps(u, _mm512_mul_ps(d, step), acc[m]);
        zacc[m] = _mm512_fmadd_ps(z, dxe, zacc[m]);
      }
    }
    for (int m = 0; m < M; ++m)
      y[(m0 + m) * ldy + o] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[m], zacc[m]));
  }
}

template <int NB, int GB>
void gemv_g(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
            int64_t o1) {
  // Up to kMaxGemvRows rows per pass over the codes, as many passes as it takes.
  for (int64_t m0 = 0; m0 < x.rows; m0 += kMaxGemvRows)
    with_rows(std::min<int64_t>(kMaxGemvRows, x.rows - m0),
              [&](auto M) { gemv_rows<NB, GB, M.value>(w, x, m0, y, ldy, o0, o1); });
}

template <int NB>
void gemv_nb(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
             int64_t o1) {
  if (w.group == 16) return gemv_g<NB, 4>(w, x, y, ldy, o0, o1);
  if (w.group == 32) return gemv_g<NB, 2>(w, x, y, ldy, o0, o1);
  gemv_g<NB, 1>(w, x, y, ldy, o0, o1);
}

}  // namespace

void twolevel_interleave_x_vnni(TwoLevelX* p) {
  const int64_t K = p->in, blocks = K / 64, runs = (blocks + kRunBlocks - 1) / kRunBlocks;
  const int64_t GB = 64 / p->group;
  p->qt.assign(static_cast<size_t>(p->rows * runs * 256), 0);
  p->xsum_t.assign(static_cast<size_t>(p->rows * runs * GB * 16), 0.0f);
  for (int64_t m = 0; m < p->rows; ++m)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t r = b / kRunBlocks, l = b % kRunBlocks;
      int32_t* dst = p->qt.data() + (m * runs + r) * 256 + l;
      const int8_t* src = p->q.data() + m * K + b * 64;
      for (int j = 0; j < 16; ++j) std::memcpy(dst + 16 * j, src + 4 * j, 4);
      for (int64_t gi = 0; gi < GB; ++gi)
        p->xsum_t[static_cast<size_t>(((m * runs + r) * GB + gi) * 16 + l)] =
            p->xsum[static_cast<size_t>(m * (K / p->group) + b * GB + gi)];
    }
}

void twolevel_interleaved_gemv_vnni(const TwoLevelView& w, const TwoLevelX& x, float* y,
                                    int64_t ldy, int64_t o0, int64_t o1) {
  if (w.nbits == 1) return gemv_nb<1>(w, x, y, ldy, o0, o1);
  gemv_nb<2>(w, x, y, ldy, o0, o1);
}

}  // namespace hqq::kernels
