#pragma once
// Turns the run-time bit width and batch size into template arguments, once, for every kernel
// variant: f receives std::integral_constant<int, N>.
#include <cstdint>
#include <type_traits>

namespace hqq::kernels {

template <int N>
using Int = std::integral_constant<int, N>;

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

}  // namespace hqq::kernels
