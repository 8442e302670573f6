#pragma once
// The in-memory layout of an HQQ weight that the fused low-bit kernels read: the "bit-plane"
// layout. W is [out, in] with groups of `group` consecutive inputs (HQQ axis 1); a code is
// q ∈ [0, 2^nbits) and the weight it stands for is (q - zero) * scale of its group.
//
// Each row is cut into blocks of 16 inputs (the row is padded with code 0 to a multiple of 16).
// For nbits ≤ 4 a block stores one 16-bit mask per bit plane p, bit j set when bit p of input
// j's code is: x·q over a block is then Σ_p 2^p · (sum of the x_j whose bit is set), a masked
// add per plane: no multiplications on codes. 8-bit codes are stored as plain bytes. Scale and
// zero stay fp16 as on disk (the kernels widen them per group).
#include <cstddef>
#include <cstdint>

namespace hqq::kernels {

struct LowbitMatrix {
  int64_t out = 0, in = 0;
  int64_t in_padded = 0;             // in rounded up to 16
  int64_t group = 0;                 // divides in
  int nbits = 0;                     // 1, 2, 3, 4 or 8
  const uint16_t* planes = nullptr;  // nbits ≤ 4: [out][in_padded / 16][nbits]
  const uint8_t* bytes = nullptr;    // nbits = 8: [out][in_padded]
  const uint16_t* scale = nullptr;   // fp16 bits, [out][in / group]
  const uint16_t* zero = nullptr;    // fp16 bits, [out][in / group]

  int64_t groups_per_row() const { return in / group; }
  int64_t blocks_per_row() const { return in_padded / 16; }
};

inline int64_t round_up_16(int64_t n) {
  return (n + 15) / 16 * 16;
}

// Bytes of codes one row takes in this layout.
inline size_t lowbit_row_bytes(int nbits, int64_t in) {
  const int64_t padded = round_up_16(in);
  return nbits == 8 ? static_cast<size_t>(padded) : static_cast<size_t>(padded / 16 * nbits * 2);
}

// Rows [o0, o1) of codes (one byte per code, row-major [out][in]) into `dst`, which points at the
// layout's storage for row 0 (planes or bytes, as nbits says).
void lowbit_pack_rows(const uint8_t* codes, int64_t in, int nbits, int64_t o0, int64_t o1,
                      void* dst);
// The inverse: codes of rows [o0, o1) into codes[o * in + i].
void lowbit_unpack_rows(const LowbitMatrix& w, int64_t o0, int64_t o1, uint8_t* codes);

float half_to_float(uint16_t h);

}  // namespace hqq::kernels
