#pragma once
// Turns the run-time bit width and batch size into template arguments, once, for every kernel
// variant: f receives std::integral_constant<int, N>.
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/lowbit_ops.h"

namespace hqq::kernels {

template <int N>
using Int = std::integral_constant<int, N>;

// Calls f(Int<0>), …, f(Int<N-1>): indices stay compile-time constants, so accumulator arrays
// indexed by them live in registers.
template <int N, typename F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(Int<I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

// 1, 2, 3, 4; anything else is 8.
template <typename F>
inline void with_nbits(int nbits, F&& f) {
  switch (nbits) {
    case 1:
      return f(Int<1>{});
    case 2:
      return f(Int<2>{});
    case 3:
      return f(Int<3>{});
    case 4:
      return f(Int<4>{});
    default:
      return f(Int<8>{});
  }
}

// 1 … 7; anything else is 8 (kMaxGemvRows).
template <typename F>
inline void with_rows(int64_t rows, F&& f) {
  switch (rows) {
    case 1:
      return f(Int<1>{});
    case 2:
      return f(Int<2>{});
    case 3:
      return f(Int<3>{});
    case 4:
      return f(Int<4>{});
    case 5:
      return f(Int<5>{});
    case 6:
      return f(Int<6>{});
    case 7:
      return f(Int<7>{});
    default:
      return f(Int<8>{});
  }
}

// 2, 4; anything else is 8 (the widths the int8-activation kernels on Blocks64 / Blocks64x16
// take).
template <typename F>
inline void with_int8_nbits(int nbits, F&& f) {
  if (nbits == 2) return f(Int<2>{});
  if (nbits == 4) return f(Int<4>{});
  return f(Int<8>{});
}

// The int8-activation kernels' batch loop: rows of x go kMaxGemvRows at a time through
// `quantize(x_rows, rows, in_padded, &xq)` (into a per-thread XQ reused from call to call), then
// `product(xq, xsum_rows, rows, y_rows)` reads every code once for that batch.
template <typename XQ, typename Quantize, typename Product>
inline void in_activation_batches(int64_t in_padded, int64_t groups, const float* x,
                                  const float* xsum, int64_t rows, float* y, int64_t ldy,
                                  Quantize&& quantize, Product&& product) {
  thread_local XQ xq;
  for (int64_t m0 = 0; m0 < rows; m0 += kMaxGemvRows) {
    const int64_t r = rows - m0 < kMaxGemvRows ? rows - m0 : kMaxGemvRows;
    quantize(x + m0 * in_padded, r, in_padded, &xq);
    product(static_cast<const XQ&>(xq), xsum + m0 * groups, r, y + m0 * ldy);
  }
}

}  // namespace hqq::kernels
