#pragma once
// The low-bit products on CUDA, over the same Blocks64 layout as the AVX-512 VNNI kernels (see
// kernels/lowbit_matrix.h), with every pointer in device memory. A plain C++ interface (no CUDA
// or torch types), so callers compile without nvcc. Activations stay fp32: no rounding of x.
#include <cstdint>
#include <string>

#include "kernels/lowbit_matrix.h"

namespace hqq::kernels::cuda {

// Whether a CUDA device is usable by this process.
bool device_available();
std::string device_name();

// y[m * ldy + o] for all rows o and m < rows (any number of rows, up to 8 per pass); x is
// [rows][in_padded], xsum [rows][groups] (see LowbitOps::gemv). `stream` is a cudaStream_t or
// null for the default stream. Returns an empty string, or the CUDA error.
std::string gemv(const LowbitMatrix& w, const float* x, const float* xsum, int64_t rows, float* y,
                 int64_t ldy, void* stream);
// The whole weight dequantized into out[o * ld + i] (fp32), for prefill GEMMs.
std::string dequantize(const LowbitMatrix& w, float* out, int64_t ld, void* stream);

}  // namespace hqq::kernels::cuda
