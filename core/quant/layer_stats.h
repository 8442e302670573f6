#pragma once
// The error figures and histograms of a LayerReport, from a weight and its dequantized form,
// in two passes over fixed blocks without any full-size temporary: a 7B checkpoint has layers
// of 45 M weights, and the tensor expressions this replaces allocated (and page-faulted) some
// 3 GB per layer. The counts equal at::histc's on the same values (its linear bin formula in
// fp32); the sums are in double over fixed blocks, so they do not depend on the thread count.
#include <ATen/ATen.h>

#include <functional>

#include "core/quant/hqq_quantizer.h"
#include "core/quant/layer_report.h"

namespace hqq {

// Writes Ŵ[begin, end) of the flattened weight to `out`.
using DequantizeBlock = std::function<void(int64_t begin, int64_t end, float* out)>;

// A block source for an HQQ-quantized tensor: (code - zero) · scale in fp32, as
// HqqLinear::dequantized(at::kFloat) computes it. `q` must outlive the result.
DequantizeBlock hqq_dequantize_block(const QuantizedTensor& q);
// A block source reading an already dequantized contiguous fp32 tensor.
DequantizeBlock dense_block(const at::Tensor& w_hat);

// Fills r's sq_error, weight_sq, rel_error, hist_min/max, hist_original, hist_dequantized,
// err_max and hist_error. `w`: n contiguous fp32 values whose minimum and maximum are w_min and
// w_max.
void fill_error_stats(const float* w, int64_t n, float w_min, float w_max,
                      const DequantizeBlock& w_hat, LayerReport* r);

// The 64-bin counts at::histc(x, 64, lo, hi) gives (exposed for its test).
std::vector<int64_t> histc64(const float* x, int64_t n, double lo, double hi);

}  // namespace hqq
