#include "core/quant/twolevel_linear.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/base/error.h"
#include "core/base/huge_pages.h"
#include "core/io/checkpoint.h"
#include "core/model/cpu_matmul.h"
#include "core/quant/frozen_matmul.h"

namespace hqq {
namespace {

constexpr int kFormatVersion = 1;

}  // namespace

TwoLevelLinear::TwoLevelLinear(TwoLevelPacked packed, at::Tensor bias, at::ScalarType compute_dtype,
                               Rotation rotation)
    : p_(std::move(packed)),
      bias_(bias.defined() ? bias.to(compute_dtype) : bias),
      compute_dtype_(compute_dtype),
      rotation_(rotation) {
  // The decode kernel's order where this CPU has one (files keep the stored order); the new
  // codes are this layer's own, already on huge pages.
  TwoLevelPacked q = with_interleaved_codes(p_, true);
  const bool own_codes = !q.codes.is_same(p_.codes);
  p_ = std::move(q);
  // Streamed every decoded token: on huge pages (core/base/huge_pages.h) when on the CPU.
  for (at::Tensor* t : {&p_.codes, &p_.meta, &p_.super}) {
    if (t == &p_.codes && own_codes) continue;
    *t = t->device().is_cpu() ? copy_to_huge_pages(*t) : t->contiguous();
  }
}

kernels::TwoLevelView TwoLevelLinear::view() const {
  return view_of(p_);
}

int64_t TwoLevelLinear::storage_bytes() const {
  auto bytes = [](const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; };
  return bytes(p_.codes) + bytes(p_.meta) + bytes(p_.super) + bytes(bias_);
}

at::Tensor TwoLevelLinear::dequantized(at::ScalarType dtype) const {
  at::Tensor w = dequantize_twolevel(p_);
  return (rotation_.enabled() ? unrotate(w, rotation_, p_.in) : w).to(dtype);
}

at::Tensor TwoLevelLinear::forward_product(const at::Tensor& x_in) const {
  if (!x_in.device().is_cpu())
    return compute_matmul(x_in, dequantized(x_in.scalar_type()).to(x_in.device()).t());
  // Rotated layers store W R: multiply x R (fp32 for the transform, then the compute dtype).
  const at::Tensor x =
      rotation_.enabled() ? rotate(x_in, rotation_, p_.in).to(x_in.scalar_type()) : x_in;
  const kernels::TwoLevelView w = view();
  const int64_t rows = x.numel() / w.in;
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = w.out;
  at::Tensor x2 = x.reshape({rows, w.in});
  if (rows <= 8) {
    // Decode: every code read once for all rows, from the stored layout.
    at::Tensor xf = x2.to(at::kFloat).contiguous();
    at::Tensor y = at::empty({rows, w.out}, at::kFloat);
    const kernels::TwoLevelX xp = kernels::twolevel_prepare_x(w, xf.data_ptr<float>(), rows);
    at::parallel_for(0, w.out, 16, [&](int64_t o0, int64_t o1) {
      kernels::twolevel_gemv(w, xp, y.data_ptr<float>(), w.out, o0, o1);
    });
    return y.to(x.scalar_type()).view(out_shape);
  }
  // Prefill and training: tiles of dequantized rows through a GEMM (as HqqLinear does, and for
  // the same reasons: tiles of at least 512 rows; a bf16 GEMM gets bf16 rows straight from the
  // kernel, rounded in registers, instead of an fp32 tile converted by ATen afterwards).
  const int64_t tile = std::max<int64_t>(512, (2 << 20) / std::max<int64_t>(w.in, 1) / 64 * 64);
  // Without a fast bf16 GEMM (cpu_matmul.h) the product runs in fp32.
  const bool widen = x.scalar_type() == at::kBFloat16 && !bf16_gemm_is_fast();
  const bool bf16 = x.scalar_type() == at::kBFloat16 && !widen;
  if (widen) x2 = x2.to(at::kFloat);
  at::Tensor y = at::empty({rows, w.out}, x2.options());
  at::Tensor buf = at::empty({std::min(tile, w.out), w.in}, bf16 ? at::kBFloat16 : at::kFloat);
  for (int64_t t0 = 0; t0 < w.out; t0 += tile) {
    const int64_t n = std::min(tile, w.out - t0);
    at::parallel_for(t0, t0 + n, 16, [&](int64_t o0, int64_t o1) {
      if (bf16)
        kernels::twolevel_dequantize_bf16(
            w, o0, o1, reinterpret_cast<uint16_t*>(buf.data_ptr<at::BFloat16>()) + (o0 - t0) * w.in,
            w.in);
      else
        kernels::twolevel_dequantize(w, o0, o1, buf.data_ptr<float>() + (o0 - t0) * w.in, w.in);
    });
    at::Tensor wt = bf16 ? buf.narrow(0, 0, n) : buf.narrow(0, 0, n).to(x2.scalar_type());
    y.narrow(1, t0, n).copy_(at::mm(x2, wt.t()));
  }
  return (widen ? y.to(at::kBFloat16) : y).view(out_shape);
}

void TwoLevelLinear::row_product(const float* x, float* y, int64_t o0, int64_t o1) const {
  const kernels::TwoLevelView w = view();
  const kernels::TwoLevelX xp = kernels::twolevel_prepare_x(w, x, 1);
  kernels::twolevel_gemv(w, xp, y, w.out, o0, o1);
  add_bias_rows(bias_, y, o0, o1);
}

at::Tensor TwoLevelLinear::forward(const at::Tensor& x) const {
  at::Tensor b = bias_.defined() ? bias_.to(x.scalar_type()) : bias_;
  at::Tensor y = at::GradMode::is_enabled() && x.requires_grad()
                     ? FrozenMatmul<TwoLevelLinear>::apply(x, this)
                     : forward_product(x);
  return b.defined() ? y + b : y;
}

std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>>
twolevel_state_layout(const std::vector<int64_t>& shape, const TwoLevelParams& p, bool has_bias,
                      const std::string& name, bool rotated) {
  if (shape.size() != 2) throw InputError(name + ": only 2-D weights can be quantized");
  const int64_t N = shape[0], K = shape[1];
  check_twolevel(p, N, K, name);
  std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>> l = {
      {"tl_codes", {at::kByte, {N, twolevel_code_row_bytes(p, K)}}},
      {"tl_meta", {at::kByte, {N, twolevel_meta_row_bytes(p, K)}}},
      {"tl_super", {at::kHalf, {N, K / p.super_group, 2}}},
      {"tl_params", {at::kInt, {6}}},
      {"tl_shape", {at::kLong, {2}}},
  };
  if (rotated) l.push_back({"tl_rotation", {at::kLong, {2}}});
  if (has_bias) l.push_back({"bias", {at::kHalf, {N}}});
  return l;
}

std::vector<std::pair<std::string, at::Tensor>> twolevel_state_dict(const TwoLevelLinear& layer) {
  const TwoLevelPacked p = with_interleaved_codes(layer.packed(), false);  // the stored order
  const TwoLevelParams& q = p.params;
  std::vector<int32_t> params = {q.nbits,     static_cast<int32_t>(q.group),       q.scale_bits,
                                 q.zero_bits, static_cast<int32_t>(q.super_group), kFormatVersion};
  std::vector<std::pair<std::string, at::Tensor>> out = {
      {"tl_codes", p.codes},
      {"tl_meta", p.meta},
      {"tl_super", p.super},
      {"tl_params", at::tensor(params, at::kInt)},
      {"tl_shape", at::tensor(std::vector<int64_t>{p.out, p.in}, at::kLong)}};
  if (layer.rotation().enabled()) {
    const std::vector<int64_t> r = {static_cast<int64_t>(layer.rotation().seed),
                                    layer.rotation().block};
    out.push_back({"tl_rotation", at::tensor(r, at::kLong)});
  }
  if (layer.bias().defined()) out.push_back({"bias", layer.bias().to(at::kHalf)});
  return out;
}

bool is_twolevel_layer(const Checkpoint& ckpt, const std::string& prefix) {
  return ckpt.has(prefix + ".tl_codes");
}

std::unique_ptr<TwoLevelLinear> load_twolevel_linear(const Checkpoint& ckpt,
                                                     const std::string& prefix, int64_t out,
                                                     int64_t in, bool has_bias,
                                                     at::ScalarType compute_dtype) {
  auto need = [&](const std::string& key) {
    if (!ckpt.has(prefix + "." + key))
      fail_input(ckpt.dir().string(), "two-level layer '" + prefix + "' lacks '" + key + "'");
    return ckpt.tensor(prefix + "." + key);
  };
  auto bad = [&](const std::string& what) {
    fail_input(ckpt.file_of(prefix + ".tl_codes"), "layer '" + prefix + "': " + what);
  };
  at::Tensor shape_t = need("tl_shape"), params_t = need("tl_params");
  if (shape_t.scalar_type() != at::kLong || shape_t.numel() != 2)
    bad("tl_shape must hold two int64 values");
  if (params_t.scalar_type() != at::kInt || params_t.numel() != 6)
    bad("tl_params must hold six int32 values");
  const int64_t N = shape_t[0].item<int64_t>(), K = shape_t[1].item<int64_t>();
  if (N != out || K != in)
    bad("shape [" + std::to_string(N) + ", " + std::to_string(K) + "] but config.json implies [" +
        std::to_string(out) + ", " + std::to_string(in) + "]");
  const int32_t* pv = params_t.contiguous().data_ptr<int32_t>();
  if (pv[5] != kFormatVersion)
    bad("format version " + std::to_string(pv[5]) + " is not supported (this build reads " +
        std::to_string(kFormatVersion) + ")");
  TwoLevelPacked p;
  p.params = {pv[0], pv[1], pv[2], pv[3], pv[4]};
  p.out = N;
  p.in = K;
  std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>> layout;
  try {
    layout = twolevel_state_layout({N, K}, p.params, false, prefix);
  } catch (const InputError& e) {
    bad(e.what());
  }
  p.codes = need("tl_codes");
  p.meta = need("tl_meta");
  p.super = need("tl_super");
  for (int i = 0; i < 3; ++i) {
    const at::Tensor& t = i == 0 ? p.codes : i == 1 ? p.meta : p.super;
    if (t.scalar_type() != layout[i].second.first || t.sizes().vec() != layout[i].second.second)
      bad(layout[i].first + " has the wrong dtype or shape for these parameters");
  }
  if (!at::isfinite(p.super).all().item<bool>()) bad("tl_super holds NaN or infinite values");
  Rotation rot;
  if (ckpt.has(prefix + ".tl_rotation")) {
    at::Tensor r = need("tl_rotation");
    if (r.scalar_type() != at::kLong || r.numel() != 2)
      bad("tl_rotation must hold two int64 values");
    rot = rotation_for(K, static_cast<uint64_t>(r[0].item<int64_t>()));
    if (rot.block != r[1].item<int64_t>())
      bad("tl_rotation block " + std::to_string(r[1].item<int64_t>()) + " does not fit " +
          std::to_string(K) + " inputs (expected " + std::to_string(rot.block) + ")");
  }
  at::Tensor bias = has_bias ? need("bias") : at::Tensor();
  const bool cpu = p.codes.device().is_cpu();
  auto layer = std::make_unique<TwoLevelLinear>(std::move(p), bias, compute_dtype, rot);
  // The layer copied its parts (onto huge pages): the file's pages it read are not needed.
  if (cpu)
    for (const char* key : {".tl_codes", ".tl_meta", ".tl_super"}) ckpt.release(prefix + key);
  return layer;
}

}  // namespace hqq
