// AVX-512 VNNI kernels on the Blocks64 layout: 64 codes become 64 bytes in two or three
// instructions and meet the activations, rounded to int8 per block of 64 inputs, in one
// vpdpbusd (64 multiply-adds). Scale and the activations' block scale are applied per block in
// fp32; the zero-point is the usual rank-1 term on exact fp32 group sums of x. Weights are read
// once per pass of up to kMaxGemvRows activation rows.
#define HQQ_LOWBIT_NS avx512vnni
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/lowbit_dispatch.h"
#include "kernels/lowbit_ops.h"
#include "kernels/lowbit_row.h"

namespace hqq::kernels {

namespace {

using avx512vnni::quantize_block64;
using avx512vnni::row_meta;
using avx512vnni::zero_term;

bool supports(const LowbitMatrix& w) {
  return w.layout == LowbitLayout::Blocks64 && w.group % 4 == 0 &&
         (w.group % 64 == 0 || 64 % w.group == 0);
}

// The 64 codes of one block, as bytes in input order.
template <int NB>
inline __m512i codes64(const uint8_t* p) {
  if constexpr (NB == 1) {
    return _mm512_maskz_mov_epi8(_cvtu64_mask64(*reinterpret_cast<const uint64_t*>(p)),
                                 _mm512_set1_epi8(1));
  } else if constexpr (NB == 2 || NB == 3) {
    const __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 2, 2, 4, 4, 6, 6)),
                                 _mm512_set1_epi8(3));
    if constexpr (NB == 3)
      q = _mm512_mask_add_epi8(q, _cvtu64_mask64(*reinterpret_cast<const uint64_t*>(p + 16)), q,
                               _mm512_set1_epi8(4));
    return q;
  } else if constexpr (NB == 4) {
    const __m512i v =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)),
                            _mm512_set1_epi8(15));
  } else {
    return _mm512_loadu_si512(p);
  }
}

// Activations of `rows` rows as int8 per block of 64 with a scale per block (absmax / 127).
struct QuantizedX {
  std::vector<int8_t> q;    // [rows][in_padded]
  std::vector<float> step;  // [rows][blocks]
};

void quantize_x(const float* x, int64_t rows, int64_t in_padded, QuantizedX* out) {
  const int64_t blocks = in_padded / 64;
  out->q.resize(static_cast<size_t>(rows * in_padded));
  out->step.resize(static_cast<size_t>(rows * blocks));
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t b = 0; b < blocks; ++b) {
      out->step[static_cast<size_t>(m * blocks + b)] =
          quantize_block64(x + m * in_padded + b * 64, out->q.data() + m * in_padded + b * 64);
    }
}

template <int NB, int M>
void gemv_rows(const LowbitMatrix& w, const QuantizedX& xq, const float* xsum, float* y,
               int64_t ldy, int64_t o0, int64_t o1) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row(), g = w.group;
  // Per-lane group scales inside a block: lane l holds inputs 4l..4l+3, of group 4l / g.
  alignas(64) int32_t lane_group[16];
  for (int l = 0; l < 16; ++l) lane_group[l] = g < 64 ? static_cast<int32_t>(4 * l / g) : 0;
  const __m512i lane_idx = _mm512_load_si512(lane_group);
  // Scales padded so that a block past the last group reads zeros.
  std::vector<float> s(static_cast<size_t>(groups + 32), 0.0f), u(static_cast<size_t>(groups));
  std::vector<float> c(static_cast<size_t>(M * blocks));  // scale × step per (row, block)
  const int64_t row_bytes = w.row_bytes(), blk_bytes = 8 * NB;
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * row_bytes;
    // U independent accumulators per activation row: one chain of dependent FMAs would
    // bound the loop by FMA latency, not by throughput.
    constexpr int U = M == 1 ? 4 : M == 2 ? 2 : 1;
    __m512 acc[M][U];
    for (int m = 0; m < M; ++m)
      for (int k = 0; k < U; ++k) acc[m][k] = _mm512_setzero_ps();
    // k must be a compile-time index (an unrolled loop), or acc would live in memory.
    auto block = [&](int64_t b, __m512 sv, int k) __attribute__((always_inline)) {
      const __m512i q = codes64<NB>(row + b * blk_bytes);
      for (int m = 0; m < M; ++m) {
        const __m512i xb = _mm512_loadu_si512(xq.q.data() + m * w.in_padded + b * 64);
        const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xb);
        const __m512 step = _mm512_set1_ps(xq.step[static_cast<size_t>(m * blocks + b)]);
        acc[m][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(sv, step), acc[m][k]);
      }
    };
    if (g >= 64) {
      // Whole blocks per group: the weight scale and the activations' step of a block are one
      // number per (row, block), made here 16 blocks per instruction, broadcast in the loop.
      const int64_t per_group = g / 64;
      for (int m = 0; m < M; ++m) {
        float* cm = c.data() + m * blocks;
        const float* step = xq.step.data() + m * blocks;
        if (per_group == 1) {
          int64_t b = 0;
          for (; b + 16 <= blocks; b += 16)
            _mm512_storeu_ps(cm + b, _mm512_mul_ps(_mm512_loadu_ps(&s[static_cast<size_t>(b)]),
                                                   _mm512_loadu_ps(step + b)));
          for (; b < blocks; ++b) cm[b] = s[static_cast<size_t>(b)] * step[b];
        } else {
          for (int64_t b = 0; b < blocks; ++b)
            cm[b] = s[static_cast<size_t>(b / per_group)] * step[b];
        }
      }
      auto block_c = [&](int64_t b, int k) __attribute__((always_inline)) {
        const __m512i q = codes64<NB>(row + b * blk_bytes);
        for (int m = 0; m < M; ++m) {
          const __m512i xb = _mm512_loadu_si512(xq.q.data() + m * w.in_padded + b * 64);
          const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xb);
          acc[m][k] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(d),
                              _mm512_set1_ps(c[static_cast<size_t>(m * blocks + b)]), acc[m][k]);
        }
      };
      // One flat loop over the row's blocks, U at a time: the accumulators stay independent
      // whatever the group size.
      int64_t b = 0;
      for (; b + U <= blocks; b += U)
#pragma GCC unroll 4
        for (int k = 0; k < U; ++k) block_c(b + k, k);
      for (; b < blocks; ++b) block_c(b, 0);
    } else {  // several groups per block: lane l's scale is its group's
      const int64_t groups_per_block = 64 / g;
      auto scales = [&](int64_t b) {
        return _mm512_permutexvar_ps(
            lane_idx, _mm512_loadu_ps(&s[static_cast<size_t>(b * groups_per_block)]));
      };
      int64_t b = 0;
      for (; b + U <= blocks; b += U)
#pragma GCC unroll 4
        for (int k = 0; k < U; ++k) block(b + k, scales(b + k), k);
      for (; b < blocks; ++b) block(b, scales(b), 0);
    }
    for (int m = 0; m < M; ++m) {
      for (int k = 1; k < U; ++k) acc[m][0] = _mm512_add_ps(acc[m][0], acc[m][k]);
      y[m * ldy + o] =
          _mm512_reduce_add_ps(acc[m][0]) + zero_term(u.data(), xsum + m * groups, groups);
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
        with_nbits(w.nbits, [&](auto NB) { gemv_nb<NB.value>(w, xq, xs, r, ym, ldy, o0, o1); });
      });
}

template <int NB>
void dequantize_nb(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  const int64_t groups = w.groups_per_row(), blocks = w.blocks_per_row();
  std::vector<float> s(static_cast<size_t>(groups)), u(static_cast<size_t>(groups));
  alignas(64) uint8_t codes[64];
  for (int64_t o = o0; o < o1; ++o) {
    row_meta(w, o, s.data(), u.data());
    const uint8_t* row = w.codes + o * w.row_bytes();
    float* dst = out + (o - o0) * ld;
    for (int64_t b = 0; b < blocks; ++b) {
      _mm512_store_si512(codes, codes64<NB>(row + b * 8 * NB));
      for (int k = 0; k < 4; ++k) {
        const int64_t i0 = b * 64 + 16 * k;
        if (i0 >= w.in) break;
        const __m512 q = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(codes + 16 * k))));
        // Groups of 16 inputs or more: one group per 16 lanes; smaller ones vary per lane.
        __m512 sv, uv;
        if (w.group >= 16) {
          sv = _mm512_set1_ps(s[static_cast<size_t>(i0 / w.group)]);
          uv = _mm512_set1_ps(u[static_cast<size_t>(i0 / w.group)]);
        } else {
          alignas(64) float sl[16], ul[16];
          for (int l = 0; l < 16; ++l) {
            const int64_t gi = std::min<int64_t>((i0 + l) / w.group, groups - 1);
            sl[l] = s[static_cast<size_t>(gi)];
            ul[l] = u[static_cast<size_t>(gi)];
          }
          sv = _mm512_load_ps(sl);
          uv = _mm512_load_ps(ul);
        }
        const __m512 v = _mm512_fmadd_ps(q, sv, uv);
        if (i0 + 16 <= w.in) {
          _mm512_storeu_ps(dst + i0, v);
        } else {
          _mm512_mask_storeu_ps(dst + i0, static_cast<__mmask16>((1u << (w.in - i0)) - 1), v);
        }
      }
    }
  }
}

void dequantize(const LowbitMatrix& w, int64_t o0, int64_t o1, float* out, int64_t ld) {
  with_nbits(w.nbits, [&](auto NB) { dequantize_nb<NB.value>(w, o0, o1, out, ld); });
}

}  // namespace

extern const LowbitOps kLowbitOps_avx512vnni = {"avx512vnni", false, supports, gemv, dequantize};

}  // namespace hqq::kernels
