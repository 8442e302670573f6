#include "core/quant/twolevel_format.h"

#include <ATen/Parallel.h>

#include "core/base/error.h"
#include "core/base/huge_pages.h"
#include "kernels/twolevel_ops.h"

namespace hqq {

kernels::TwoLevelView view_of(const TwoLevelPacked& p) {
  kernels::TwoLevelView v;
  v.out = p.out;
  v.in = p.in;
  v.nbits = p.params.nbits;
  v.group = p.params.group;
  v.scale_bits = p.params.scale_bits;
  v.zero_bits = p.params.zero_bits;
  v.super_group = p.params.super_group;
  v.codes = p.codes.data_ptr<uint8_t>();
  v.code_row_bytes = p.codes.size(1);
  v.meta = p.meta.data_ptr<uint8_t>();
  v.meta_row_bytes = p.meta.size(1);
  v.super = reinterpret_cast<const uint16_t*>(p.super.data_ptr<at::Half>());
  v.interleaved = p.interleaved;
  return v;
}

TwoLevelPacked with_interleaved_codes(const TwoLevelPacked& p, bool interleaved) {
  if (p.interleaved == interleaved || !p.codes.device().is_cpu()) return p;
  if (interleaved && !kernels::twolevel_interleaves(view_of(p))) return p;
  TwoLevelPacked o = p;
  o.interleaved = interleaved;
  // Where it lives on: on huge pages, as TwoLevelLinear keeps its codes (no second copy).
  o.codes = empty_on_huge_pages(p.codes.sizes().vec(), at::kByte);
  const at::Tensor src = p.codes.contiguous();
  const int64_t rb = p.codes.size(1);
  at::parallel_for(0, p.out, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* from = src.data_ptr<uint8_t>() + r * rb;
      uint8_t* to = o.codes.data_ptr<uint8_t>() + r * rb;
      if (interleaved)
        kernels::twolevel_interleave_row(from, p.in, p.params.nbits, to);
      else
        kernels::twolevel_deinterleave_row(from, p.in, p.params.nbits, to);
    }
  });
  return o;
}

double twolevel_bits_per_weight(const TwoLevelParams& p) {
  return p.nbits + static_cast<double>(p.scale_bits + p.zero_bits) / static_cast<double>(p.group) +
         32.0 / static_cast<double>(p.super_group);
}

int64_t twolevel_code_row_bytes(const TwoLevelParams& p, int64_t K) {
  return K / 64 * kernels::twolevel_block_bytes(p.nbits);
}

int64_t twolevel_meta_row_bytes(const TwoLevelParams& p, int64_t K) {
  return (K / p.group * (p.scale_bits + p.zero_bits) + 7) / 8;
}

int64_t twolevel_layer_bytes(const TwoLevelParams& p, int64_t N, int64_t K) {
  return N *
         (twolevel_code_row_bytes(p, K) + twolevel_meta_row_bytes(p, K) + K / p.super_group * 4);
}

void check_twolevel(const TwoLevelParams& p, int64_t N, int64_t K, const std::string& name) {
  auto bad = [&](const std::string& what) {
    throw InputError(name + ": two-level format: " + what);
  };
  if (p.nbits < 1 || p.nbits > 4) bad("code bits must be 1, 2, 3 or 4");
  if (p.group != 8 && p.group != 16 && p.group != 32 && p.group != 64)
    bad("sub-group must be 8, 16, 32 or 64");
  if (p.scale_bits < 2 || p.scale_bits > 8 || p.zero_bits < 2 || p.zero_bits > 8)
    bad("scale and zero bits must be 2..8");
  if (p.super_group <= 0 || p.super_group % 64 != 0 || p.super_group % p.group != 0)
    bad("super-group must be a positive multiple of 64 and of the sub-group");
  if (N <= 0 || K <= 0) bad("empty weight");
  if (K % p.super_group != 0)
    bad("the input size " + std::to_string(K) + " is not a multiple of the super-group " +
        std::to_string(p.super_group));
}

TwoLevelPacked pack_twolevel(const TwoLevelTensor& t) {
  const TwoLevelParams& p = t.params;
  TwoLevelPacked o;
  o.params = p;
  o.out = t.out;
  o.in = t.in;
  const int64_t cb = twolevel_code_row_bytes(p, t.in), mb = twolevel_meta_row_bytes(p, t.in);
  const int64_t G = t.in / p.group;
  o.codes = at::empty({t.out, cb}, at::kByte);
  o.meta = at::empty({t.out, mb}, at::kByte);
  o.super = t.super.to(at::kHalf).contiguous();
  at::Tensor codes = t.codes.contiguous(), sq = t.scale_q.contiguous(), zq = t.zero_q.contiguous();
  at::parallel_for(0, t.out, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      kernels::twolevel_pack_codes_row(codes.data_ptr<uint8_t>() + r * t.in, t.in, p.nbits,
                                       o.codes.data_ptr<uint8_t>() + r * cb);
      kernels::twolevel_pack_meta_row(sq.data_ptr<uint8_t>() + r * G,
                                      zq.data_ptr<uint8_t>() + r * G, G, p.scale_bits, p.zero_bits,
                                      o.meta.data_ptr<uint8_t>() + r * mb, mb);
    }
  });
  return o;
}

TwoLevelTensor unpack_twolevel(const TwoLevelPacked& p) {
  TwoLevelTensor t;
  t.params = p.params;
  t.out = p.out;
  t.in = p.in;
  const int64_t G = p.in / p.params.group;
  t.codes = at::empty({p.out, p.in}, at::kByte);
  t.scale_q = at::empty({p.out, G}, at::kByte);
  t.zero_q = at::empty({p.out, G}, at::kByte);
  t.super = p.super;
  const kernels::TwoLevelView v = view_of(p);
  at::parallel_for(0, p.out, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      kernels::twolevel_row_codes(v, r, t.codes.data_ptr<uint8_t>() + r * p.in);
      kernels::twolevel_unpack_meta_row(v.meta + r * v.meta_row_bytes, G, v.scale_bits, v.zero_bits,
                                        t.scale_q.data_ptr<uint8_t>() + r * G,
                                        t.zero_q.data_ptr<uint8_t>() + r * G);
    }
  });
  return t;
}

at::Tensor dequantize_twolevel(const TwoLevelPacked& p) {
  at::Tensor out = at::empty({p.out, p.in}, at::kFloat);
  const kernels::TwoLevelView v = view_of(p);
  at::parallel_for(0, p.out, 16, [&](int64_t o0, int64_t o1) {
    kernels::twolevel_dequantize(v, o0, o1, out.data_ptr<float>() + o0 * p.in, p.in);
  });
  return out;
}

at::Tensor dequantize_twolevel(const TwoLevelTensor& t) {
  return dequantize_twolevel(pack_twolevel(t));
}

std::vector<double> twolevel_median_levels(const TwoLevelTensor& t) {
  const TwoLevelParams& p = t.params;
  const int64_t G = t.in / p.group, per_super = p.super_group / p.group;
  at::Tensor sup = t.super.to(at::kFloat).reshape({t.out, t.in / p.super_group, 2});
  at::Tensor d = sup.select(2, 0).repeat_interleave(per_super, 1);
  at::Tensor e = sup.select(2, 1).repeat_interleave(per_super, 1);
  at::Tensor s = (d * t.scale_q.to(at::kFloat)).flatten(),
             z = (e * t.zero_q.to(at::kFloat)).flatten();
  const int64_t j = std::get<1>(at::kthvalue(s, s.numel() / 2 + 1)).item<int64_t>();
  const double sj = s[j].item<double>(), zj = z[j].item<double>();
  std::vector<double> levels;
  for (int k = 0; k < (1 << p.nbits); ++k) levels.push_back((k - zj) * sj);
  (void)G;
  return levels;
}

}  // namespace hqq
