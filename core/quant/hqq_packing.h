#pragma once
// The reference HQQ storage layouts for packed codes (reference §3): the grouped code tensor
// C [R, Cc] is split along dim 0 into k contiguous blocks, block b going to the b-th most
// significant field. 8-bit: uint8 [R, Cc]; 4-bit: uint8 [R/2, Cc]; 2-bit: uint8 [R/4, Cc];
// 1-bit: uint8 [R/8, Cc]; 3-bit: int32 [ceil(R/10), Cc], ten codes per word (bits 29..0).
#include <ATen/ATen.h>

#include <string>

namespace hqq {

// Codes per storage element for nbits (8 -> 1, 4 -> 2, 3 -> 10, 2 -> 4, 1 -> 8).
int codes_per_element(int nbits);
// The reference name of the packing ("4bit_u8", "3bit_32", ...).
std::string packing_name(int nbits);
// Packed shape for a grouped code tensor of `rows` x `cols`.
std::vector<int64_t> packed_shape(int nbits, int64_t rows, int64_t cols);

// codes: uint8 [R, Cc] with values < 2^nbits. R must be divisible by 8/nbits for the u8
// packings (any R for 3-bit, which pads with zero rows). Throws Error otherwise.
at::Tensor pack_codes(const at::Tensor& codes, int nbits);
// Inverse of pack_codes: uint8 [rows, Cc] (the padding rows of 3-bit dropped).
at::Tensor unpack_codes(const at::Tensor& packed, int nbits, int64_t rows);

}  // namespace hqq
