// AVX-512 VNNI kernels on the Blocks64x16 layout (2, 4 and 8 bits): one 64-byte load holds 4
// inputs of each of 16 blocks, so a vpdpbusd multiplies-and-adds for 16 blocks at once and each
// block's int32 sum stays in its own lane. Planes are taken with a mask at their own bit
// position (no shift): plane p's products come out 2^(nbits·p) too large and get that factor
// back, exactly, with the block scales, which are applied once per run of 16 blocks. The
// Blocks64 kernel (lowbit_ops_vnni.cpp) spends a shift, a convert and an FMA per block besides
// its vpdpbusd; this one about one mask per vpdpbusd, which is what makes decode faster.
// Activations: int8 per block of 64 with a scale per block, as in the Blocks64 kernel, stored
// transposed per run (dword j of block l at [j][l]) to line up with the codes.
#define HQQ_LOWBIT_NS avx512vnni16
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/bf16_round_avx512.h"
#include "kernels/lowbit_dispatch.h"
#include "kernels/lowbit_ops.h"
#include "kernels/lowbit_row.h"
#include "kernels/prefetch_rows.h"

namespace hqq::kernels {

namespace {

using avx512vnni16::quantize_block64;
using avx512vnni16::row_meta;

bool supports(const LowbitMatrix& w) {
  return w.layout == LowbitLayout::Blocks64x16 && (w.nbits == 2 || w.nbits == 4 || w.nbits == 8) &&
         (w.group == 16 || w.group == 32 || w.group % 64 == 0);
}

// Activations of `rows` rows as int8 per block of 64 (scale absmax / 127), transposed per run
// of 16 blocks: int32 word j of block b lies at q[((m·runs + b/16)·16 + j)·16 + b%16].
struct QuantizedX {
  std::vector<int32_t> q;
  std::vector<float> step;  // [rows][runs·16], zero past the row's blocks
  int64_t runs = 0;
};

void quantize_x(const float* x, int64_t rows, int64_t in_padded, QuantizedX* out) {
  const int64_t blocks = in_padded / 64, runs = (blocks + kRunBlocks - 1) / kRunBlocks;
  out->runs = runs;
  out->q.assign(static_cast<size_t>(rows * runs * 256), 0);
  out->step.assign(static_cast<size_t>(rows * runs * kRunBlocks), 0.0f);
  alignas(64) int32_t words[16];
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t b = 0; b < blocks; ++b) {
      out->step[static_cast<size_t>(m * runs * kRunBlocks + b)] =
          quantize_block64(x + m * in_padded + b * 64, reinterpret_cast<int8_t*>(words));
      int32_t* dst = out->q.data() + ((m * runs + b / kRunBlocks) * 16) * 16 + b % kRunBlocks;
      for (int j = 0; j < 16; ++j) dst[j * 16] = words[j];
    }
}

// The mask of a run of n blocks' vectors (4n bytes).
inline __mmask64 run_mask(int64_t n) {
  return n >= kRunBlocks ? ~__mmask64{0} : (__mmask64{1} << (4 * n)) - 1;
}

// Where a run's 16 block scales come from: straight from the fp16 row (groups of 64, one per
// block; groups of 128, one per two blocks), or from a table made per row (other groups).
enum class Scales { PerBlock, PerTwoBlocks, Table };

// NB bits, G groups per block (64 / group for groups of 16 or 32, else 1), M activation rows.
template <int NB, int G, Scales SC, int M>
void gemv_rows(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, float* y,
               int64_t ldy, int64_t o0, int64_t o1) {
  constexpr int S = 8 / NB;         // planes per byte
  constexpr int V = 2 * NB;         // vectors per run
  constexpr int A = S > G ? S : G;  // int32 accumulators: one per (plane, group) that occurs
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row(), runs = xq.runs;
  // Only the table needs the row's scales in fp32 (row_meta also makes u, which goes unused:
  // the zero term is taken from the fp16 rows below).
  const size_t table_groups = SC == Scales::Table ? static_cast<size_t>(groups) : 0;
  std::vector<float> s(table_groups), u(table_groups);
  // Table: the scale of each (group within the block, block), padded to whole runs with zeros.
  std::vector<float> sb(SC == Scales::Table ? static_cast<size_t>(G * runs * kRunBlocks) : 0, 0.0f);
  const int64_t row_bytes = w.row_bytes(), per_group = G > 1 ? 1 : w.group / 64;
  const __m512i pair_idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  for (int64_t o = o0; o < o1; ++o) {
    const uint16_t* sp = w.scale + o * groups;
    const uint16_t* zp = w.zero + o * groups;
    // The codes, scales and zeros of two rows ahead (kernels/prefetch_rows.h).
    if (o + 2 < o1) {
      prefetch_lines(w.codes + (o + 2) * row_bytes, row_bytes);
      prefetch_lines(sp + 2 * groups, groups * 2);
      prefetch_lines(zp + 2 * groups, groups * 2);
    }
    if constexpr (SC == Scales::Table) {
      row_meta(w, o, s.data(), u.data());
      // Groups of 16 or 32 end where the row ends, before the block padding: a group past
      // them gets scale 0 (its codes meet zero activations, but stale memory could be a NaN).
      for (int64_t b = 0; b < blocks; ++b)
        for (int gi = 0; gi < G; ++gi) {
          const int64_t g = G > 1 ? G * b + gi : b / per_group;
          sb[static_cast<size_t>(gi * runs * kRunBlocks + b)] =
              g < groups ? s[static_cast<size_t>(g)] : 0.0f;
        }
    }
    // The zero-point's rank-1 term, -Σ_g zero·scale·xsum, starts each row's accumulator.
    __m512 accf[M];
    for (int m = 0; m < M; ++m) accf[m] = _mm512_setzero_ps();
    for (int64_t g0 = 0; g0 < groups; g0 += 16) {
      const __mmask16 k =
          groups - g0 >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (groups - g0)) - 1);
      const __m512 zs = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, sp + g0)),
                                      _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, zp + g0)));
      for (int m = 0; m < M; ++m)
        accf[m] = _mm512_fnmadd_ps(zs, _mm512_maskz_loadu_ps(k, xsum + m * groups + g0), accf[m]);
    }
    const uint8_t* row = w.codes + o * row_bytes;
    for (int64_t r = 0; r < runs; ++r) {
      const int64_t n = std::min<int64_t>(kRunBlocks, blocks - r * kRunBlocks);
      const __mmask64 mask = run_mask(n);
      const uint8_t* run = row + r * kRunBlocks * 8 * NB;
      auto scales = [&](int gi) {
        if constexpr (SC == Scales::PerBlock) {
          return _mm512_cvtph_ps(
              _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), sp + r * kRunBlocks));
        } else if constexpr (SC == Scales::PerTwoBlocks) {
          const __m512 h = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(
              static_cast<__mmask16>((1u << ((n + 1) / 2)) - 1), sp + r * kRunBlocks / 2));
          return _mm512_permutexvar_ps(pair_idx, h);
        } else {
          return _mm512_loadu_ps(sb.data() + gi * runs * kRunBlocks + r * kRunBlocks);
        }
      };
      for (int m = 0; m < M; ++m) {
        const int32_t* xr = xq.q.data() + (m * runs + r) * 256;
        __m512i acc[A];
        static_for<A>([&](auto a) { acc[a.value] = _mm512_setzero_si512(); });
        static_for<V>([&](auto v) {
          const __m512i c = _mm512_maskz_loadu_epi8(mask, run + v.value * 4 * n);
          static_for<S>([&](auto p) {
            constexpr int j = p.value * V + v.value;  // the 4 inputs 4j..4j+3 of every block
            constexpr int gi = 4 * j * G / 64;
            constexpr int a = G >= S ? gi : p.value;
            const __m512i q = NB == 8
                                  ? c
                                  : _mm512_and_si512(c, _mm512_set1_epi8(static_cast<char>(
                                                            ((1 << NB) - 1) << (NB * p.value))));
            acc[a] = _mm512_dpbusd_epi32(acc[a], q, _mm512_loadu_si512(xr + 16 * j));
          });
        });
        const __m512 step = _mm512_loadu_ps(xq.step.data() + (m * runs + r) * kRunBlocks);
        static_for<G>([&](auto gi) {
          __m512 t = _mm512_setzero_ps();
          static_for<A>([&](auto a) {
            constexpr int p = G >= S ? a.value * S / G : a.value;
            constexpr int ga = G >= S ? a.value : 4 * (p * V) * G / 64;
            if constexpr (ga == gi.value)
              t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[a.value]),
                                  _mm512_set1_ps(1.0f / float(1 << (NB * p))), t);
          });
          accf[m] = _mm512_fmadd_ps(t, _mm512_mul_ps(scales(gi.value), step), accf[m]);
        });
      }
    }
    for (int m = 0; m < M; ++m) y[m * ldy + o] = _mm512_reduce_add_ps(accf[m]);
  }
}

template <int NB, int G, Scales SC>
void gemv_g(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, int64_t rows, float* y,
            int64_t ldy, int64_t o0, int64_t o1) {
  with_rows(rows, [&](auto M) { gemv_rows<NB, G, SC, M.value>(w, xq, xsum, y, ldy, o0, o1); });
}

template <int NB>
void gemv_nb(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, int64_t rows, float* y,
             int64_t ldy, int64_t o0, int64_t o1) {
  if (w.group == 16) return gemv_g<NB, 4, Scales::Table>(w, xq, xsum, rows, y, ldy, o0, o1);
  if (w.group == 32) return gemv_g<NB, 2, Scales::Table>(w, xq, xsum, rows, y, ldy, o0, o1);
  if (w.group == 64) return gemv_g<NB, 1, Scales::PerBlock>(w, xq, xsum, rows, y, ldy, o0, o1);
  if (w.group == 128) return gemv_g<NB, 1, Scales::PerTwoBlocks>(w, xq, xsum, rows, y, ldy, o0, o1);
  gemv_g<NB, 1, Scales::Table>(w, xq, xsum, rows, y, ldy, o0, o1);
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

// Rows back to fp32. Four consecutive vectors of a run hold, for each block, 16 consecutive
// inputs of every plane; a 4×4 transpose of dwords inside each 128-bit lane turns them into
// 16 codes in input order per (lane, block), which are scaled 16 at a time (groups are 16
// inputs or more here). No byte goes through memory between loading and storing.
// T: float, or uint16_t for bf16 rows.
template <int NB, typename T>
void dequantize_nb(const LowbitMatrix& w, int64_t o0, int64_t o1, T* out, int64_t ld) {
  constexpr int S = 8 / NB, V = 2 * NB, span = 64 / S;
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row();
  std::vector<float> s(static_cast<size_t>(groups)), u(static_cast<size_t>(groups));
  const __m512i low = _mm512_set1_epi8(static_cast<char>((1 << NB) - 1));
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * w.row_bytes();
    T* dst = out + (o - o0) * ld;
    for (int64_t r0 = 0; r0 < blocks; r0 += kRunBlocks) {
      const int64_t n = std::min<int64_t>(kRunBlocks, blocks - r0);
      const __mmask64 mask = run_mask(n);
      const uint8_t* run = row + r0 * 8 * NB;
      for (int v0 = 0; v0 < V; v0 += 4) {
        __m512i c[4];
        for (int k = 0; k < 4; ++k) c[k] = _mm512_maskz_loadu_epi8(mask, run + (v0 + k) * 4 * n);
        const __m512i t0 = _mm512_unpacklo_epi32(c[0], c[1]),
                      t1 = _mm512_unpackhi_epi32(c[0], c[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(c[2], c[3]),
                      t3 = _mm512_unpackhi_epi32(c[2], c[3]);
        // r[k], 128-bit lane L: the 16 bytes of block 4L + k for vectors v0 … v0 + 3.
        const __m512i r[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                              _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
        for (int p = 0; p < S; ++p)
          for (int k = 0; k < 4; ++k) {
            const __m512i q = _mm512_and_si512(_mm512_srli_epi16(r[k], NB * p), low);
            alignas(64) uint8_t bytes[64];
            _mm512_store_si512(bytes, q);
            for (int L = 0; L < 4; ++L) {
              const int64_t l = 4 * L + k;
              if (l >= n) break;
              const int64_t i0 = (r0 + l) * 64 + p * span + 4 * v0;
              if (i0 >= w.in) continue;
              const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                  _mm_load_si128(reinterpret_cast<const __m128i*>(bytes + 16 * L))));
              const int64_t g = i0 / w.group;
              const __m512 v = _mm512_fmadd_ps(f, _mm512_set1_ps(s[static_cast<size_t>(g)]),
                                               _mm512_set1_ps(u[static_cast<size_t>(g)]));
              const __mmask16 k = i0 + 16 <= w.in ? __mmask16(0xffff)
                                                  : static_cast<__mmask16>((1u << (w.in - i0)) - 1);
              if constexpr (std::is_same_v<T, float>)
                _mm512_mask_storeu_ps(dst + i0, k, v);
              else
                _mm256_mask_storeu_epi16(dst + i0, k, round_to_bf16_avx512(v));
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

extern const LowbitOps kLowbitOps_avx512vnni16 = {"avx512vnni16", false,      supports,
                                                  gemv,           dequantize, dequantize_bf16};

}  // namespace hqq::kernels
