#pragma once
// Kernels on the two-level HQQ layout (core/quant/twolevel_format.h; docs/FORMATS.md). Codes of
// a row are stored in blocks of 64 inputs, as the Blocks64 layout of lowbit_matrix.h has them:
//   1-bit: 8 bytes, bit c of the block's little-endian 64-bit word is code c;
//   2-bit: 16 bytes, byte b holds codes b, 16+b, 32+b, 48+b in bits 0-1, 2-3, 4-5, 6-7;
//   3-bit: those 16 bytes for the low two bits, then 8 bytes whose bit c is code c's bit 2;
//   4-bit: 32 bytes, byte b holds code b (low nibble) and code 32+b (high nibble).
// Meta codes of a row: sub-group j's scale code then zero code, bit-packed LSB first.
// Super pairs: fp16 (d, e) per super-group. ŵ = d·sq · (q − e·zq).
//
// In memory a layer may hold its codes interleaved instead (TwoLevelView::interleaved; never on
// disk): the Blocks64x16 order of lowbit_matrix.h, runs of 16 blocks in which one 64-byte load
// holds 4 consecutive inputs of each of the 16 blocks. For 2-bit codes that moves the blocks'
// 4-byte words and nothing else; for 1-bit codes each block's 8x8 bit matrix is transposed.
// The VNNI product then adds 16 blocks per instruction with each block's sum in its own lane
// and applies the sub-group scales once per run (twolevel_interleaved_vnni.cpp).
#include <cstdint>
#include <vector>

namespace hqq::kernels {

struct TwoLevelView {
  int64_t out = 0, in = 0;
  int nbits = 2;
  int64_t group = 16;
  int scale_bits = 4, zero_bits = 4;
  int64_t super_group = 256;
  const uint8_t* codes = nullptr;  // [out][code_row_bytes]
  int64_t code_row_bytes = 0;
  const uint8_t* meta = nullptr;  // [out][meta_row_bytes]
  int64_t meta_row_bytes = 0;
  const uint16_t* super = nullptr;  // fp16 [out][in / super_group][2]
  bool interleaved = false;         // codes in the interleaved order (see above)
  int64_t groups() const { return in / group; }
};

// Whether the interleaved order has a kernel for these parameters on this CPU (AVX-512 VNNI;
// 1- and 2-bit codes; groups of 16, 32 or 64; 4+4-bit meta; super-groups of 256): only then
// is it worth making.
bool twolevel_interleaves(const TwoLevelView& w);
// One row of codes (K inputs) from the stored order to the interleaved one, or back.
void twolevel_interleave_row(const uint8_t* stored, int64_t K, int nbits, uint8_t* out);
void twolevel_deinterleave_row(const uint8_t* interleaved, int64_t K, int nbits, uint8_t* out);
// Row o's codes as one byte each, whichever the order.
void twolevel_row_codes(const TwoLevelView& w, int64_t o, uint8_t* out);

int64_t twolevel_block_bytes(int nbits);  // bytes per 64 codes

// One row of codes (K values < 2^nbits, K a multiple of 64) to and from the block layout.
void twolevel_pack_codes_row(const uint8_t* codes, int64_t K, int nbits, uint8_t* out);
void twolevel_unpack_codes_row(const uint8_t* packed, int64_t K, int nbits, uint8_t* out);
// One row of meta codes to and from the bit stream (`out` zeroed by the packer).
void twolevel_pack_meta_row(const uint8_t* sq, const uint8_t* zq, int64_t groups, int sb, int zb,
                            uint8_t* out, int64_t out_bytes);
void twolevel_unpack_meta_row(const uint8_t* packed, int64_t groups, int sb, int zb, uint8_t* sq,
                              uint8_t* zq);

// Row o's per-sub-group scale s_j and zero z_j in fp32, exactly as dequantization uses them.
void twolevel_row_meta(const TwoLevelView& w, int64_t o, float* s, float* z);

// Rows [o0, o1) of ŵ in fp32, into out[(o - o0) * ld + i].
void twolevel_dequantize(const TwoLevelView& w, int64_t o0, int64_t o1, float* out, int64_t ld);

// The same rows rounded to bf16 (to nearest even, the bits ATen's cast gives), into
// out[(o - o0) * ld + i]: prefill tiles for a bf16 GEMM, vectorised where the CPU has AVX-512.
void twolevel_dequantize_bf16(const TwoLevelView& w, int64_t o0, int64_t o1, uint16_t* out,
                              int64_t ld);

// Activations prepared once per product: group sums in fp32 (the zero term) and, for the VNNI
// variant, int8 with one step per super-group (absmax / 127).
struct TwoLevelX {
  int64_t rows = 0, in = 0, group = 0, super_group = 0;
  const float* x = nullptr;  // [rows][in] fp32
  std::vector<float> xsum;   // [rows][in / group] (VNNI: sums of the int8 x, in fp32)
  std::vector<int8_t> q;     // [rows][in] (VNNI only)
  std::vector<float> step;   // [rows][in / super_group] (VNNI only)
  // Interleaved layers only: q's 4-byte words transposed per run of 16 blocks (word j of
  // block b at [m][b / 16][j][b % 16], zero past the row) and the sub-group sums likewise
  // ([m][b / 16][sub-group within the block][b % 16]), to line up with the codes' lanes.
  std::vector<int32_t> qt;
  std::vector<float> xsum_t;
};
TwoLevelX twolevel_prepare_x(const TwoLevelView& w, const float* x, int64_t rows);

// y[m * ldy + o] = Σ_i x[m][i] ŵ[o][i] for o in [o0, o1), every m < rows (each row of weights
// read from memory once, for every m from L1). The fastest variant this CPU runs: AVX-512 VNNI
// (x rounded to int8 with a step per super-group) or the portable fp32 one. Contract of the
// VNNI variant: y equals x_q · ŵ up to fp32 rounding of the sums, x_q being x as rounded
// (TwoLevelX::q times its step); only x's rounding is lost (tested).
void twolevel_gemv(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy, int64_t o0,
                   int64_t o1);
// The portable fp32 variant (tests compare the others with it).
void twolevel_gemv_scalar(const TwoLevelView& w, const TwoLevelX& x, float* y, int64_t ldy,
                          int64_t o0, int64_t o1);
// The name of the variant twolevel_gemv runs ("avx512vnni" or "scalar").
const char* twolevel_gemv_isa();

}  // namespace hqq::kernels
