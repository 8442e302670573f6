#include "core/quant/layer_bytes.h"

namespace hqq {

double hqq_layer_bytes(int nbits, int64_t numel, int64_t g, int axis) {
  const int64_t groups = numel / g;
  const int64_t rows = axis == 1 ? groups : g, cols = numel / rows;
  const double codes = nbits == 3 ? 4.0 * static_cast<double>((rows + 9) / 10 * cols)
                                  : static_cast<double>(numel) * nbits / 8.0;
  return codes + 4.0 * static_cast<double>(groups);
}

}  // namespace hqq
