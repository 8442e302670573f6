#pragma once
// Body of the decode loops; included by one translation unit per instruction set, each compiled
// with its own -m flags inside its own namespace (HQQ_ISA_NS). Plain loops written so that the
// compiler vectorises them (independent accumulators, no calls inside): the exponential is a
// polynomial here because libm's expf does not vectorise.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#if defined(HQQ_DECODE_BF16_DOT)
#include <immintrin.h>
#endif

#include "kernels/decode_ops.h"
#include "kernels/prefetch_rows.h"

namespace hqq::kernels::HQQ_ISA_NS {

// e^x to about 2 ulp for x in [-87, 88] (Cody-Waite reduction, degree-6 polynomial).
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * 1.44269504f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  return p * scale;
}

inline float bf(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename W, typename Cvt>
inline void gemv_rows(const W* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
                      int64_t o1, Cvt cvt) {
  int64_t o = o0;
  // Four rows per pass: x is read once for four rows and the four sums are independent chains.
  for (; o + 4 <= o1; o += 4) {
    const W* r0 = w + o * ld;
    const W* r1 = r0 + ld;
    const W* r2 = r1 + ld;
    const W* r3 = r2 + ld;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int64_t i = 0; i < in; ++i) {
      const float xi = x[i];
      a0 += xi * cvt(r0[i]);
      a1 += xi * cvt(r1[i]);
      a2 += xi * cvt(r2[i]);
      a3 += xi * cvt(r3[i]);
    }
    y[o] = a0, y[o + 1] = a1, y[o + 2] = a2, y[o + 3] = a3;
  }
  for (; o < o1; ++o) {
    const W* r = w + o * ld;
    float a = 0;
    for (int64_t i = 0; i < in; ++i) a += x[i] * cvt(r[i]);
    y[o] = a;
  }
}

#if defined(HQQ_DECODE_BF16_DOT)
// Software prefetch distance, in weights. The hardware prefetcher alone left the GEMV at 27-32
// GB/s where a plain read of the same copies streams 35 (2 threads, Zen 4, beyond L3); 2048
// weights ahead gained 5-18 %, most on the 2048x5632 down_proj shape (27.0 -> 31.8 GB/s).
constexpr int64_t kBf16PrefetchAhead = 2048;

// With AVX512-BF16, x is split once into two bf16 halves, x = hi + lo to a relative 2^-16, and
// vdpbf16ps multiplies the bf16 weights with both: a product of two bf16 is exact in fp32 and
// the sums are fp32, so the result is the fp32 loop's within fp32 rounding. Two dot
// instructions per 32 weights replace a widening, a shift and an FMA per 16: the converting loop
// ran at half the memory bandwidth (23 of 45 GB/s on 2 Zen 4 cores), this one streams.
// One row at a time, four independent sums over 64 weights: a single sequential stream per
// thread. Four rows at once (x loaded once for four) streamed at 25 GB/s on 2 cores against 34
// for one row: the hardware prefetcher follows one stream better than four (measured before
// the software prefetch below; not re-measured with it).
inline float dot_row_bf16(const uint16_t* r, const uint16_t* hi, const uint16_t* lo, int64_t in) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= in; i += 64) {
    // 4 KB ahead, past the row's end into the next row (rows are contiguous in the decode
    // step; a prefetch never faults). See kBf16PrefetchAhead.
    prefetch_lines(r + i + kBf16PrefetchAhead, 64 * sizeof(uint16_t));
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512(r + i);
    const __m512bh w1 = (__m512bh)_mm512_loadu_si512(r + i + 32);
    a0 = _mm512_dpbf16_ps(a0, w0, (__m512bh)_mm512_loadu_si512(hi + i));
    a1 = _mm512_dpbf16_ps(a1, w0, (__m512bh)_mm512_loadu_si512(lo + i));
    a2 = _mm512_dpbf16_ps(a2, w1, (__m512bh)_mm512_loadu_si512(hi + i + 32));
    a3 = _mm512_dpbf16_ps(a3, w1, (__m512bh)_mm512_loadu_si512(lo + i + 32));
  }
  for (; i < in; i += 32) {
    // Masked tail: the zeros past `in` contribute nothing.
    const int64_t n = std::min<int64_t>(32, in - i);
    const __mmask32 m = n == 32 ? ~__mmask32{0} : (__mmask32{1} << n) - 1u;
    const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, r + i);
    a0 = _mm512_dpbf16_ps(a0, wv, (__m512bh)_mm512_maskz_loadu_epi16(m, hi + i));
    a1 = _mm512_dpbf16_ps(a1, wv, (__m512bh)_mm512_maskz_loadu_epi16(m, lo + i));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void gemv_bf16(const uint16_t* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
               int64_t o1) {
  // Split per call: each thread calls once per projection for a range of >= hundreds of rows,
  // so this costs well under 1 % of the rows' work.
  thread_local std::vector<uint16_t> hi, lo;
  hi.resize(static_cast<size_t>(in));
  lo.resize(static_cast<size_t>(in));
  for (int64_t i = 0; i < in; ++i) {
    hi[i] = float_to_bf16(x[i]);
    lo[i] = float_to_bf16(x[i] - bf16_to_float(hi[i]));
  }
  for (int64_t o = o0; o < o1; ++o) y[o] = dot_row_bf16(w + o * ld, hi.data(), lo.data(), in);
}
#else
void gemv_bf16(const uint16_t* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
               int64_t o1) {
  gemv_rows(w, ld, in, x, y, o0, o1, [](uint16_t h) { return bf(h); });
}
#endif

void gemv_f32(const float* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
              int64_t o1) {
  gemv_rows(w, ld, in, x, y, o0, o1, [](float v) { return v; });
}

void rms_norm(const float* x, int64_t n, const float* w, float eps, bool add_one, float* out) {
  float ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float r = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  if (add_one) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * r * (1.0f + w[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * r * w[i];
  }
}

void glu(float* gate, const float* up, int64_t n, bool gelu_tanh) {
  if (gelu_tanh) {
    // 0.5 g (1 + tanh(u)) = g · (1 - 1 / (e^{2u} + 1)), u = √(2/π) (g + 0.044715 g³).
    for (int64_t i = 0; i < n; ++i) {
      const float g = gate[i];
      const float u = 0.7978845608f * (g + 0.044715f * g * g * g);
      gate[i] = g * (1.0f - 1.0f / (exp_approx(2.0f * u) + 1.0f)) * up[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float g = gate[i];
      gate[i] = g / (1.0f + exp_approx(-g)) * up[i];
    }
  }
}

void rope(float* x, int64_t heads, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* a = x + h * d;
    float* b = a + half;
    for (int64_t i = 0; i < half; ++i) {
      const float x1 = a[i], x2 = b[i];
      a[i] = x1 * cos[i] - x2 * sin[i];
      b[i] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

template <typename T, typename Cvt>
void attend(const float* q, const T* k, const T* v, int64_t s0, int64_t s1, int64_t d, float scale,
            float cap, float* p, float* out, Cvt cvt) {
  float mx = -3.0e38f;  // no infinities: built with -ffinite-math-only
  for (int64_t s = s0; s < s1; ++s) {
    const T* ks = k + s * d;
    float a = 0;
    for (int64_t i = 0; i < d; ++i) a += q[i] * cvt(ks[i]);
    a *= scale;
    if (cap > 0) a = cap * (1.0f - 2.0f / (exp_approx(2.0f * a / cap) + 1.0f));
    p[s] = a;
    mx = std::max(mx, a);
  }
  float sum = 0;
  for (int64_t s = s0; s < s1; ++s) {
    p[s] = exp_approx(p[s] - mx);
    sum += p[s];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < d; ++i) out[i] = 0;
  for (int64_t s = s0; s < s1; ++s) {
    const T* vs = v + s * d;
    const float ps = p[s] * inv;
    for (int64_t i = 0; i < d; ++i) out[i] += ps * cvt(vs[i]);
  }
}

void attend_bf16(const float* q, const uint16_t* k, const uint16_t* v, int64_t s0, int64_t s1,
                 int64_t d, float scale, float cap, float* scratch, float* out) {
  attend(q, k, v, s0, s1, d, scale, cap, scratch, out, [](uint16_t h) { return bf(h); });
}

void attend_f32(const float* q, const float* k, const float* v, int64_t s0, int64_t s1, int64_t d,
                float scale, float cap, float* scratch, float* out) {
  attend(q, k, v, s0, s1, d, scale, cap, scratch, out, [](float f) { return f; });
}

}  // namespace hqq::kernels::HQQ_ISA_NS

// One table per translation unit: HQQ_DECODE_TABLE(kDecodeOps_avx2, "avx2").
#define HQQ_DECODE_TABLE(name, isa)                       \
  extern const DecodeOps name = {isa,                     \
                                 HQQ_ISA_NS::gemv_bf16,   \
                                 HQQ_ISA_NS::gemv_f32,    \
                                 HQQ_ISA_NS::rms_norm,    \
                                 HQQ_ISA_NS::glu,         \
                                 HQQ_ISA_NS::rope,        \
                                 HQQ_ISA_NS::attend_bf16, \
                                 HQQ_ISA_NS::attend_f32}
