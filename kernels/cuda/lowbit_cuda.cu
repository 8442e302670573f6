// CUDA low-bit kernels on the Blocks64 layout. GEMV: one warp per output row; lane l decodes
// blocks l, l+32, ... (8·nbits contiguous bytes each, so a warp's loads are coalesced), meets
// fp32 activations from the read-only cache, applies its group's scale per block, and the warp
// reduces with shuffles. The zero-point is the rank-1 term Σ_g (−z·s)·xsum_g, spread over lanes.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/lowbit_cuda.h"

namespace hqq::kernels::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerCta = 4;  // warps per CTA
constexpr int kMaxRows = 8;

// Code j (0..63) of a block of 8·NB bytes.
template <int NB>
__device__ __forceinline__ int code_at(const uint8_t* blk, int j) {
  if constexpr (NB == 1) return (blk[j >> 3] >> (j & 7)) & 1;
  if constexpr (NB == 2) return (blk[j & 15] >> (2 * (j >> 4))) & 3;
  if constexpr (NB == 3) {
    return ((blk[j & 15] >> (2 * (j >> 4))) & 3) | (((blk[16 + (j >> 3)] >> (j & 7)) & 1) << 2);
  }
  if constexpr (NB == 4) return (blk[j & 31] >> (4 * (j >> 5))) & 15;
  return blk[j];
}

template <int NB>
__global__ void gemv_kernel(LowbitMatrix w, const float* __restrict__ x,
                            const float* __restrict__ xsum, int rows, float* __restrict__ y,
                            int64_t ldy) {
  const int lane = threadIdx.x % kWarp;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kRowsPerCta + threadIdx.x / kWarp;
  if (o >= w.out) return;
  const int64_t groups = w.in / w.group, blocks = w.in_padded / 64, row_bytes = blocks * 8 * NB;
  const uint8_t* row = w.codes + o * row_bytes;
  float acc[kMaxRows];
  for (int m = 0; m < kMaxRows; ++m) acc[m] = 0.0f;
  uint8_t blk[8 * NB];
  for (int64_t b = lane; b < blocks; b += kWarp) {
    // Whole block into registers (8·NB bytes, 8-byte aligned: blocks are multiples of 8 bytes).
    const uint2* src = reinterpret_cast<const uint2*>(row + b * 8 * NB);
    for (int k = 0; k < NB; ++k) reinterpret_cast<uint2*>(blk)[k] = src[k];
    for (int j0 = 0; j0 < 64; j0 += 8) {  // 8 inputs share a group (groups are ≥ 8 here)
      const int64_t i0 = b * 64 + j0;
      if (i0 >= w.in) break;
      const float s = __half2float(reinterpret_cast<const __half*>(w.scale)[o * groups + i0 / w.group]);
      float dot[kMaxRows];
      for (int m = 0; m < kMaxRows; ++m) dot[m] = 0.0f;
      for (int j = j0; j < j0 + 8; ++j) {
        const float q = static_cast<float>(code_at<NB>(blk, j));
        for (int m = 0; m < rows; ++m) dot[m] += q * __ldg(x + m * w.in_padded + b * 64 + j);
      }
      for (int m = 0; m < rows; ++m) acc[m] += s * dot[m];
    }
  }
  // The zero-point term, groups spread over the lanes.
  for (int64_t g = lane; g < groups; g += kWarp) {
    const float s = __half2float(reinterpret_cast<const __half*>(w.scale)[o * groups + g]);
    const float z = __half2float(reinterpret_cast<const __half*>(w.zero)[o * groups + g]);
    for (int m = 0; m < rows; ++m) acc[m] -= z * s * xsum[m * groups + g];
  }
  for (int m = 0; m < rows; ++m) {
    float v = acc[m];
    for (int d = kWarp / 2; d > 0; d /= 2) v += __shfl_down_sync(0xffffffffu, v, d);
    if (lane == 0) y[m * ldy + o] = v;
  }
}

template <int NB>
__global__ void dequantize_kernel(LowbitMatrix w, float* __restrict__ out, int64_t ld) {
  const int64_t blocks = w.in_padded / 64, groups = w.in / w.group;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // one input
  const int64_t o = t / w.in_padded, i = t % w.in_padded;
  if (o >= w.out || i >= w.in) return;
  const uint8_t* blk = w.codes + o * blocks * 8 * NB + (i / 64) * 8 * NB;
  const int64_t g = o * groups + i / w.group;
  const float s = __half2float(reinterpret_cast<const __half*>(w.scale)[g]);
  const float z = __half2float(reinterpret_cast<const __half*>(w.zero)[g]);
  out[o * ld + i] = (static_cast<float>(code_at<NB>(blk, static_cast<int>(i % 64))) - z) * s;
}

std::string check(cudaError_t e) {
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

}  // namespace

bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::string device_name() {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "none";
  return p.name;
}

std::string gemv(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
                 int64_t ldy, void* stream) {
  if (w.layout != LowbitLayout::Blocks64 || w.group % 8 != 0)
    return "the CUDA kernels need the Blocks64 layout and groups of a multiple of 8";
  const auto s = static_cast<cudaStream_t>(stream);
  const dim3 grid(static_cast<unsigned>((w.out + kRowsPerCta - 1) / kRowsPerCta)),
      block(kRowsPerCta * kWarp);
  for (int64_t m0 = 0; m0 < rows; m0 += kMaxRows) {
    const int r = static_cast<int>(rows - m0 < kMaxRows ? rows - m0 : kMaxRows);
    const float* xm = x + m0 * w.in_padded;
    const float* xs = xsum + m0 * (w.in / w.group);
    float* ym = y + m0 * ldy;
    switch (w.nbits) {
      case 1: gemv_kernel<1><<<grid, block, 0, s>>>(w, xm, xs, r, ym, ldy); break;
      case 2: gemv_kernel<2><<<grid, block, 0, s>>>(w, xm, xs, r, ym, ldy); break;
      case 3: gemv_kernel<3><<<grid, block, 0, s>>>(w, xm, xs, r, ym, ldy); break;
      case 4: gemv_kernel<4><<<grid, block, 0, s>>>(w, xm, xs, r, ym, ldy); break;
      default: gemv_kernel<8><<<grid, block, 0, s>>>(w, xm, xs, r, ym, ldy); break;
    }
    if (auto e = check(cudaGetLastError()); !e.empty()) return e;
  }
  return {};
}

std::string dequantize(const LowbitMatrix& w, float* out, int64_t ld, void* stream) {
  if (w.layout != LowbitLayout::Blocks64) return "the CUDA kernels need the Blocks64 layout";
  const auto s = static_cast<cudaStream_t>(stream);
  const int64_t n = w.out * w.in_padded;
  const dim3 grid(static_cast<unsigned>((n + 255) / 256)), block(256);
  switch (w.nbits) {
    case 1: dequantize_kernel<1><<<grid, block, 0, s>>>(w, out, ld); break;
    case 2: dequantize_kernel<2><<<grid, block, 0, s>>>(w, out, ld); break;
    case 3: dequantize_kernel<3><<<grid, block, 0, s>>>(w, out, ld); break;
    case 4: dequantize_kernel<4><<<grid, block, 0, s>>>(w, out, ld); break;
    default: dequantize_kernel<8><<<grid, block, 0, s>>>(w, out, ld); break;
  }
  return check(cudaGetLastError());
}

}  // namespace hqq::kernels::cuda
