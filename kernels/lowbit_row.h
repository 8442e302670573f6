#pragma once
// Per-row helpers shared by the SIMD low-bit kernels (AVX2 and AVX-512 builds both have F16C).
// Every includer compiles them with its own ISA flags, so they live in the includer's namespace
// (HQQ_LOWBIT_NS): one inline function built for AVX-512 must never stand in for the AVX2 copy.
#include <immintrin.h>

#include <cstdint>

#include "kernels/lowbit_matrix.h"

#ifndef HQQ_LOWBIT_NS
#error "define HQQ_LOWBIT_NS (the ISA variant's namespace) before including lowbit_row.h"
#endif

namespace hqq::kernels::HQQ_LOWBIT_NS {

// Row o's scales and the zero terms u = -zero·scale, widened to fp32.
inline void row_meta(const LowbitMatrix& w, int64_t o, float* s, float* u) {
  const int64_t groups = w.groups_per_row();
  const uint16_t* sp = w.scale + o * groups;
  const uint16_t* zp = w.zero + o * groups;
  int64_t g = 0;
  for (; g + 8 <= groups; g += 8) {
    const __m256 sv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sp + g)));
    const __m256 zv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(zp + g)));
    _mm256_storeu_ps(s + g, sv);
    _mm256_storeu_ps(u + g, _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), zv), sv));
  }
  for (; g < groups; ++g) {
    s[g] = _cvtsh_ss(sp[g]);
    u[g] = -_cvtsh_ss(zp[g]) * s[g];
  }
}

// The rank-1 zero term of one output: Σ_g u[g] · xsum[g] (vectorised by the reassociation
// flags these files are built with).
inline float zero_term(const float* u, const float* xsum, int64_t groups) {
  float z = 0;
  for (int64_t g = 0; g < groups; ++g) z += u[g] * xsum[g];
  return z;
}

#if defined(__AVX512F__)
// 64 activations rounded to int8 with one scale (absmax / 127), into q[0..63]; returns the step.
inline float quantize_block64(const float* xb, int8_t* q) {
  __m512 mx = _mm512_setzero_ps();
  for (int k = 0; k < 4; ++k) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xb + 16 * k)));
  const float amax = _mm512_reduce_max_ps(mx);
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  for (int k = 0; k < 4; ++k) {
    const __m512i i32 =
        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * k), _mm512_set1_ps(inv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * k), _mm512_cvtsepi32_epi8(i32));
  }
  return amax / 127.0f;
}
#endif

}  // namespace hqq::kernels::HQQ_LOWBIT_NS
