#pragma once
// The in-memory layouts of an HQQ weight that the fused low-bit kernels read. W is [out, in] with
// groups of `group` consecutive inputs (HQQ axis 1); a code is q ∈ [0, 2^nbits) and the weight
// it stands for is (q - zero) · scale of its group. Scale and zero stay fp16 as on disk.
//
// BitPlanes16 (exact fp32 kernels, AVX2 and scalar): rows cut into blocks of 16 inputs; for
// nbits ≤ 4 a block stores one 16-bit mask per bit plane p, bit j set when bit p of input j's
// code is, so x·q over a block is Σ_p 2^p · (sum of the x_j whose bit is set): masked adds, no
// multiplications on codes. 8-bit codes are plain bytes.
//
// Blocks64 (AVX-512 VNNI kernels): rows cut into blocks of 64 inputs, 8·nbits bytes each, laid
// out so that a broadcast, one shift and one mask give the 64 codes as bytes in order:
//   1-bit: a 64-bit mask;  2-bit: byte b holds inputs b, b+16, b+32, b+48 (bits 0-1, 2-3, 4-5,
//   6-7);  3-bit: the 2-bit block of the low bits, then a 64-bit mask of bit 2;  4-bit: byte b
//   holds inputs b (low nibble) and b+32 (high nibble);  8-bit: the bytes.
// Rows are padded with code 0 to a multiple of the block.
//
// Blocks64x16 (AVX-512 VNNI, 2/4/8 bits): the same 64-input blocks and bytes per block, but runs
// of 16 consecutive blocks (a row's last run may be shorter, n blocks) are interleaved so that
// one 64-byte load holds 4 consecutive inputs of each of the 16 blocks, lane l = block l of the
// run. The codes of a block's input i sit in plane p = i / (64·nbits/8) of vector
// v = (i mod 64·nbits/8) / 4, byte 4l + i mod 4 of that vector (vectors of a run of n blocks
// are 4n bytes apart), bits [nbits·p, nbits·(p+1)). A vpdpbusd then adds the products of a whole
// run's lane-blocks at once and each block's int32 sum stays in its own lane: the block scales
// are applied once per run of 16 blocks instead of once per block.
#include <cstddef>
#include <cstdint>

namespace hqq::kernels {

enum class LowbitLayout { BitPlanes16, Blocks64, Blocks64x16 };

struct LowbitMatrix {
  int64_t out = 0, in = 0;
  int64_t in_padded = 0;  // in rounded up to the layout's block
  int64_t group = 0;      // divides in
  int nbits = 0;          // 1, 2, 3, 4 or 8
  LowbitLayout layout = LowbitLayout::BitPlanes16;
  const uint8_t* codes = nullptr;   // [out][row_bytes]
  const uint16_t* scale = nullptr;  // fp16 bits, [out][in / group]
  const uint16_t* zero = nullptr;   // fp16 bits, [out][in / group]

  int64_t groups_per_row() const { return in / group; }
  int64_t block() const;
  int64_t blocks_per_row() const { return in_padded / block(); }
  int64_t row_bytes() const;
};

inline int64_t round_up(int64_t n, int64_t m) {
  return (n + m - 1) / m * m;
}
inline int64_t block_of(LowbitLayout l) {
  return l == LowbitLayout::BitPlanes16 ? 16 : 64;
}
// Blocks64x16: blocks per run, and where input i of block b of a row sits (byte offset from
// the row's start, and the shift of its code inside that byte).
constexpr int64_t kRunBlocks = 16;
struct CodeSlot {
  int64_t byte;
  int shift;
};
inline CodeSlot blocks64x16_slot(int nbits, int64_t blocks, int64_t b, int64_t i) {
  const int64_t r0 = b / kRunBlocks * kRunBlocks,
                n = blocks - r0 < kRunBlocks ? blocks - r0 : kRunBlocks;
  const int64_t span = 64 * nbits / 8;  // inputs per plane
  const int64_t p = i / span, v = (i % span) / 4;
  return {r0 * 8 * nbits + v * 4 * n + 4 * (b - r0) + i % 4, static_cast<int>(nbits * p)};
}
inline int64_t LowbitMatrix::block() const {
  return block_of(layout);
}

// Bytes of codes one row takes in a layout.
int64_t lowbit_row_bytes(int nbits, int64_t in, LowbitLayout layout);

// Rows [o0, o1) of codes (one byte per code, row-major [out][in]) into `dst`, the layout's
// storage for row 0.
void lowbit_pack_rows(const uint8_t* codes, int64_t in, int nbits, LowbitLayout layout, int64_t o0,
                      int64_t o1, uint8_t* dst);
// The inverse: codes of rows [o0, o1) into codes[o * in + i].
void lowbit_unpack_rows(const LowbitMatrix& w, int64_t o0, int64_t o1, uint8_t* codes);
// The code of input i of row o.
int lowbit_code_at(const LowbitMatrix& w, int64_t o, int64_t i);

float half_to_float(uint16_t h);

}  // namespace hqq::kernels
