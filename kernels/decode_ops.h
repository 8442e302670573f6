#pragma once
// The small loops of one decode step (one token, batch 1), on raw fp32 buffers so that the
// step runs without an ATen dispatch or a tensor allocation per operation: dense GEMV on bf16
// or fp32 weights, RMSNorm, gated activations, rotary embedding, attention of one query over
// the KV cache, argmax. Compiled once per instruction set and chosen at run time; every
// variant works on a range (rows, heads) so that the caller owns the threads.
#include <cstdint>
#include <vector>

namespace hqq::kernels {

struct DecodeOps {
  const char* isa;
  // y[o] = Σ_i x[i] · W[o][i] for o in [o0, o1); W row-major with row stride ld (elements).
  void (*gemv_bf16)(const uint16_t* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
                    int64_t o1);
  void (*gemv_f32)(const float* w, int64_t ld, int64_t in, const float* x, float* y, int64_t o0,
                   int64_t o1);
  // out = x / rms(x) · w (Llama), or · (1 + w) when add_one (Gemma); out may alias x.
  void (*rms_norm)(const float* x, int64_t n, const float* w, float eps, bool add_one, float* out);
  // gate[i] = act(gate[i]) · up[i], act = SiLU or GELU (tanh approximation).
  void (*glu)(float* gate, const float* up, int64_t n, bool gelu_tanh);
  // Rotate-half RoPE of `heads` consecutive heads of dimension d, in place; cos/sin [d / 2].
  void (*rope)(float* x, int64_t heads, int64_t d, const float* cos, const float* sin);
  // out[d] = Σ_s softmax(scale · q·k_s (soft-capped when cap > 0))_s · v_s over positions
  // s in [s0, s1) of one KV head (rows of d elements, bf16 or fp32); scratch holds s1 floats.
  void (*attend_bf16)(const float* q, const uint16_t* k, const uint16_t* v, int64_t s0, int64_t s1,
                      int64_t d, float scale, float cap, float* scratch, float* out);
  void (*attend_f32)(const float* q, const float* k, const float* v, int64_t s0, int64_t s1,
                     int64_t d, float scale, float cap, float* scratch, float* out);
};

// The widest variant this CPU runs, and the portable one (tests compare them).
const DecodeOps& decode_ops();
const DecodeOps& decode_ops_scalar();
// Every variant this CPU runs, scalar first (tests, benchmarks).
std::vector<const DecodeOps*> decode_ops_variants();

// Round-to-nearest-even conversions (what ATen's bf16 casts do).
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace hqq::kernels
