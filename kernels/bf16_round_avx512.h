#pragma once
// Rounding fp32 to bf16 in AVX-512 registers, for the translation units compiled with AVX-512
// flags (the VNNI kernels' prefill tiles). Round to nearest even, the bits ATen's cast and
// kernels::float_to_bf16 give, for finite inputs (weights are). Static: each including
// translation unit gets its own copy, compiled with its own flags.
#include <immintrin.h>

namespace hqq::kernels {

// 16 floats to 16 bf16.
static inline __m256i round_to_bf16_avx512(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

}  // namespace hqq::kernels
