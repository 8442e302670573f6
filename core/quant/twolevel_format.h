#pragma once
// Two-level HQQ: small groups whose scale and zero are themselves integers of a few bits under
// one fp16 pair per super-group, like the k-quants of llama.cpp but chosen by an HQQ-style
// solver (twolevel_solver.h). For weight i of sub-group j in super-group b of a row:
//
//   ŵ_i = s_j · (q_i − z_j),   s_j = d_b · sq_j,   z_j = e_b · zq_j
//
// q_i: nbits code; sq_j: scale_bits code; zq_j: zero_bits code; d_b, e_b: fp16. Grouping is
// along the input dimension (axis 1) only. Storage per weight: nbits + (scale_bits +
// zero_bits) / group + 32 / super_group bits, exactly (see docs/FORMATS.md for the layout).
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/twolevel_ops.h"

namespace hqq {

struct TwoLevelParams {
  int nbits = 2;              // code bits: 1, 2, 3 or 4
  int64_t group = 16;         // sub-group length: 8, 16, 32 or 64
  int scale_bits = 4;         // bits of each sub-group's scale code (2..8)
  int zero_bits = 4;          // bits of each sub-group's zero code (2..8)
  int64_t super_group = 256;  // weights per fp16 (d, e) pair; a multiple of group and of 128
  bool operator==(const TwoLevelParams&) const = default;
};

// Bits per weight with every piece of meta counted.
double twolevel_bits_per_weight(const TwoLevelParams& p);
// Bytes of one row of K inputs: codes, packed meta codes, fp16 super pairs.
int64_t twolevel_code_row_bytes(const TwoLevelParams& p, int64_t K);
int64_t twolevel_meta_row_bytes(const TwoLevelParams& p, int64_t K);
int64_t twolevel_layer_bytes(const TwoLevelParams& p, int64_t N, int64_t K);
// Throws InputError naming `name` when the parameters or the shape do not fit.
void check_twolevel(const TwoLevelParams& p, int64_t N, int64_t K, const std::string& name);

// Unpacked form, as the solver produces it.
struct TwoLevelTensor {
  TwoLevelParams params;
  int64_t out = 0, in = 0;
  at::Tensor codes;    // uint8 [out, in]
  at::Tensor scale_q;  // uint8 [out, in / group]
  at::Tensor zero_q;   // uint8 [out, in / group]
  at::Tensor super;    // fp16 [out, in / super_group, 2]: (d, e)
};

// Stored form: what the safetensors hold and what the kernels read.
struct TwoLevelPacked {
  TwoLevelParams params;
  int64_t out = 0, in = 0;
  at::Tensor codes;  // uint8 [out, code_row_bytes]
  at::Tensor meta;   // uint8 [out, meta_row_bytes]
  at::Tensor super;  // fp16 [out, in / super_group, 2]
  // Codes in the kernels' interleaved order (kernels/twolevel_ops.h): in memory only, made
  // where the CPU has a kernel for it; files always hold the stored order.
  bool interleaved = false;
};

TwoLevelPacked pack_twolevel(const TwoLevelTensor& t);
// p with its codes in the interleaved order or the stored one (a copy of the codes, on huge
// pages, when the order changes; meta and super shared). Interleaving where
// kernels::twolevel_interleaves says no returns p as it is.
TwoLevelPacked with_interleaved_codes(const TwoLevelPacked& p, bool interleaved);
TwoLevelTensor unpack_twolevel(const TwoLevelPacked& p);

// The weight [out, in] in fp32, by the formula above (the one every path uses).
at::Tensor dequantize_twolevel(const TwoLevelTensor& t);
at::Tensor dequantize_twolevel(const TwoLevelPacked& p);

// What the two-level kernels read: pointers into p, which must outlive the view.
kernels::TwoLevelView view_of(const TwoLevelPacked& p);

// The 2^nbits levels of the sub-group at the median scale (the report's typical group).
std::vector<double> twolevel_median_levels(const TwoLevelTensor& t);

}  // namespace hqq
