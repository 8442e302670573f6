#include "core/quant/hqq_linear.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>

#include "core/base/error.h"
#include "core/base/huge_pages.h"
#include "core/io/checkpoint.h"
#include "core/model/cpu_matmul.h"
#include "core/quant/frozen_matmul.h"
#include "core/quant/hqq_packing.h"
#include "kernels/decode_ops.h"
#include "kernels/lowbit_ops.h"

namespace hqq {
namespace {

// Shifts per block, most significant first (reference §3), as a [k, 1, 1] tensor.
at::Tensor block_shifts(int nbits, at::ScalarType t) {
  const int k = codes_per_element(nbits);
  std::vector<int64_t> s(static_cast<size_t>(k));
  for (int b = 0; b < k; ++b) s[b] = nbits == 3 ? 27 - 3 * b : nbits * (k - 1 - b);
  return at::tensor(s, at::kLong).to(t).view({k, 1, 1});
}

at::Tensor ascii(const std::string& s) {
  at::Tensor t = at::empty({static_cast<int64_t>(s.size())}, at::kByte);
  std::memcpy(t.data_ptr(), s.data(), s.size());
  return t;
}

std::string dtype_string(at::ScalarType t) {
  switch (t) {
    case at::kHalf:
      return "torch.float16";
    case at::kBFloat16:
      return "torch.bfloat16";
    case at::kFloat:
      return "torch.float32";
    default:
      return "torch.float16";
  }
}

at::Tensor u8(bool v) {
  return at::full({}, v ? 1 : 0, at::kByte);
}
at::Tensor i32(int64_t v) {
  return at::full({}, v, at::kInt);
}

}  // namespace

HqqLinear::HqqLinear(const QuantizedTensor& q, at::Tensor bias, at::ScalarType compute_dtype,
                     bool fuse)
    : HqqLinear(pack_codes(q.codes, q.nbits), q.scale, q.zero, q.shape, q.nbits, q.group_size,
                q.axis, std::move(bias), compute_dtype, fuse) {}

HqqLinear::HqqLinear(at::Tensor packed, at::Tensor scale, at::Tensor zero,
                     std::vector<int64_t> shape, int nbits, int64_t group_size, int axis,
                     at::Tensor bias, at::ScalarType compute_dtype, bool fuse)
    : packed_(std::move(packed)),
      scale_(std::move(scale)),
      zero_(std::move(zero)),
      bias_(bias.defined() ? bias.to(compute_dtype) : bias),
      shape_(std::move(shape)),
      nbits_(nbits),
      group_size_(group_size),
      axis_(axis),
      compute_dtype_(compute_dtype) {
  // Kernel layout for the common case; other layers keep the on-disk packing.
  const bool kernel_bits = nbits_ == 1 || nbits_ == 2 || nbits_ == 3 || nbits_ == 4 || nbits_ == 8;
  // Groups run over the flattened weight: only when they divide a row do they stay in one row.
  if (!fuse || axis_ != 1 || !kernel_bits || shape_[1] % group_size_ != 0 ||
      scale_.scalar_type() != at::kHalf || zero_.scalar_type() != at::kHalf ||
      !packed_.device().is_cpu())
    return;
  const int64_t out = shape_[0], in = shape_[1];
  at::Tensor codes = this->codes().reshape({out, in}).contiguous();
  layout_ = kernels::preferred_lowbit_layout(nbits_, in, group_size_);
  // Codes, scales and zeros in one buffer on huge pages (core/base/huge_pages.h): each layer's
  // meta alone is smaller than a huge page, and on 4 KiB pages it cost 15 % of a 4-bit decode.
  const int64_t row_bytes = kernels::lowbit_row_bytes(nbits_, in, layout_);
  const auto at64 = [](int64_t n) { return (n + 63) / 64 * 64; };
  const int64_t code_bytes = at64(out * row_bytes), meta_bytes = scale_.numel() * 2;
  at::Tensor buf = empty_on_huge_pages({code_bytes + 2 * at64(meta_bytes)}, at::kByte);
  lowbit_ = buf.narrow(0, 0, out * row_bytes).view({out, row_bytes});
  at::parallel_for(0, out, 64, [&](int64_t o0, int64_t o1) {
    kernels::lowbit_pack_rows(codes.data_ptr<uint8_t>(), in, nbits_, layout_, o0, o1,
                              lowbit_.data_ptr<uint8_t>());
  });
  const auto place = [&](const at::Tensor& t, int64_t offset) {
    return buf.narrow(0, offset, meta_bytes).view(at::kHalf).view(t.sizes()).copy_(t);
  };
  scale_ = place(scale_, code_bytes);
  zero_ = place(zero_, code_bytes + at64(meta_bytes));
  packed_ = at::Tensor();  // the kernel layout holds the same codes
}

kernels::LowbitMatrix HqqLinear::lowbit_view() const {
  kernels::LowbitMatrix w;
  w.out = shape_[0];
  w.in = shape_[1];
  w.layout = layout_;
  w.in_padded = kernels::round_up(w.in, kernels::block_of(layout_));
  w.group = group_size_;
  w.nbits = nbits_;
  w.codes = lowbit_.data_ptr<uint8_t>();
  w.scale = reinterpret_cast<const uint16_t*>(scale_.data_ptr<at::Half>());
  w.zero = reinterpret_cast<const uint16_t*>(zero_.data_ptr<at::Half>());
  return w;
}

const kernels::LowbitOps* HqqLinear::kernel() const {
  return lowbit_.defined() ? &kernels::lowbit_ops(lowbit_view()) : nullptr;
}

at::Tensor HqqLinear::packed() const {
  return packed_.defined() ? packed_ : pack_codes(codes(), nbits_);
}

int64_t HqqLinear::grouped_rows() const {
  return axis_ == 1 ? shape_[0] * shape_[1] / group_size_ : group_size_;
}

at::Tensor HqqLinear::codes() const {
  if (lowbit_.defined()) {
    const int64_t out = shape_[0], in = shape_[1];
    at::Tensor c = at::empty({out, in}, at::kByte);
    const kernels::LowbitMatrix w = lowbit_view();
    at::parallel_for(0, out, 64, [&](int64_t o0, int64_t o1) {
      kernels::lowbit_unpack_rows(w, o0, o1, c.data_ptr<uint8_t>());
    });
    return c.view({grouped_rows(), group_size_});  // axis 1: the grouped layout is row-major
  }
  // Vectorised unpack: every block at once by broadcasting the shifts.
  const int k = codes_per_element(nbits_);
  const int64_t rows = grouped_rows();
  at::Tensor fields = packed_.unsqueeze(0)
                          .bitwise_right_shift(block_shifts(nbits_, packed_.scalar_type()))
                          .bitwise_and((1 << nbits_) - 1);  // [k, P, C]
  at::Tensor all = fields.reshape({k * packed_.size(0), packed_.size(1)});
  return (nbits_ == 3 ? all.narrow(0, 0, rows) : all).to(at::kByte);
}

void HqqLinear::weight_rows(const int64_t* ids, int64_t n, float* out) const {
  if (!lowbit_.defined()) throw Error("weight_rows: this HQQ layer is not in a kernel layout");
  const kernels::LowbitMatrix w = lowbit_view();
  const kernels::LowbitOps& ops = kernels::lowbit_ops(w);
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= w.out) throw Error("weight_rows: row out of range");
    ops.dequantize(w, ids[i], ids[i] + 1, out + i * w.in, w.in);
  }
}

at::Tensor HqqLinear::dequantized(at::ScalarType dtype) const {
  if (lowbit_.defined()) {
    const kernels::LowbitMatrix w = lowbit_view();
    const kernels::LowbitOps& ops = kernels::lowbit_ops(w);
    at::Tensor out = at::empty({w.out, w.in}, at::kFloat);
    at::parallel_for(0, w.out, 16, [&](int64_t o0, int64_t o1) {
      ops.dequantize(w, o0, o1, out.data_ptr<float>() + o0 * w.in, w.in);
    });
    return out.to(dtype);
  }
  // fp16 meta does not convert losslessly to bf16: go through fp32 then.
  at::ScalarType work =
      (dtype == at::kBFloat16 && scale_.scalar_type() == at::kHalf) ? at::kFloat : dtype;
  at::Tensor w = (codes().to(work) - zero_.to(work)) * scale_.to(work);
  return w.reshape(shape_).to(dtype);
}

at::Tensor HqqLinear::forward_product(const at::Tensor& x) const {
  if (!lowbit_.defined() || !x.device().is_cpu())
    return compute_matmul(x, dequantized(x.scalar_type()).t());
  const kernels::LowbitMatrix w = lowbit_view();
  const kernels::LowbitOps& ops = kernels::lowbit_ops(w);
  const int64_t rows = x.numel() / w.in;
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = w.out;
  at::Tensor x2 = x.reshape({rows, w.in});
  if (rows <= kernels::kMaxGemvRows) {
    // Decode: read every code once, for all rows, straight from the kernel layout.
    at::Tensor xf = x2.to(at::kFloat);
    at::Tensor xsum = xf.view({rows, w.groups_per_row(), w.group}).sum(-1).contiguous();
    if (w.in_padded != w.in) xf = at::constant_pad_nd(xf, {0, w.in_padded - w.in});
    xf = xf.contiguous();
    at::Tensor y = at::empty({rows, w.out}, at::kFloat);
    at::parallel_for(0, w.out, 16, [&](int64_t o0, int64_t o1) {
      ops.gemv(w, xf.data_ptr<float>(), xsum.data_ptr<float>(), rows, y.data_ptr<float>(), w.out,
               o0, o1);
    });
    return y.to(x.scalar_type()).view(out_shape);
  }
  // Prefill and training: dequantize a tile of rows, multiply it, go on; the whole dequantized
  // weight never exists at once. Tiles of at least 512 rows (≈ 4 MB in bf16 for 4096 inputs)
  // keep the GEMMs efficient (80-row tiles of a 4096×11008 weight made prefill 40 % slower;
  // 512 rows instead of 256 took BM_LowbitPrefill 4096² 4-bit from 6.7 to 6.2 ms).
  const int64_t tile = std::max<int64_t>(512, (2 << 20) / std::max<int64_t>(w.in, 1) / 64 * 64);
  // A bf16 GEMM gets its tile in bf16 straight from the kernels: rounded in registers where the
  // variant can (dequantize_bf16: 4096² 4-bit prefill 6.2 → 4.5 ms), else each thread converts
  // the rows it just dequantized while they are in its cache, so no fp32 tile goes through
  // memory (that pass, written then read back, cost as much as the dequantization itself).
  // Without a fast bf16 GEMM (cpu_matmul.h) the product runs in fp32 on fp32 tiles instead.
  const bool widen = x.scalar_type() == at::kBFloat16 && !bf16_gemm_is_fast();
  const bool bf16 = x.scalar_type() == at::kBFloat16 && !widen;
  if (widen) x2 = x2.to(at::kFloat);
  at::Tensor y = at::empty({rows, w.out}, x2.options());
  at::Tensor buf = at::empty({std::min(tile, w.out), w.in}, bf16 ? at::kBFloat16 : at::kFloat);
  for (int64_t t0 = 0; t0 < w.out; t0 += tile) {
    const int64_t n = std::min(tile, w.out - t0);
    at::parallel_for(t0, t0 + n, 16, [&](int64_t o0, int64_t o1) {
      if (!bf16) {
        ops.dequantize(w, o0, o1, buf.data_ptr<float>() + (o0 - t0) * w.in, w.in);
        return;
      }
      auto* dst = reinterpret_cast<uint16_t*>(buf.data_ptr<at::BFloat16>());
      if (ops.dequantize_bf16) {
        ops.dequantize_bf16(w, o0, o1, dst + (o0 - t0) * w.in, w.in);
        return;
      }
      thread_local std::vector<float> chunk;
      for (int64_t r0 = o0; r0 < o1; r0 += 4) {
        const int64_t r1 = std::min(o1, r0 + 4);
        chunk.resize(static_cast<size_t>((r1 - r0) * w.in));
        ops.dequantize(w, r0, r1, chunk.data(), w.in);
        uint16_t* d = dst + (r0 - t0) * w.in;
        for (size_t i = 0; i < chunk.size(); ++i) d[i] = kernels::float_to_bf16(chunk[i]);
      }
    });
    at::Tensor wt = bf16 ? buf.narrow(0, 0, n) : buf.narrow(0, 0, n).to(x2.scalar_type());
    y.narrow(1, t0, n).copy_(at::mm(x2, wt.t()));
  }
  return (widen ? y.to(at::kBFloat16) : y).view(out_shape);
}

void HqqLinear::row_product(const float* x, float* y, int64_t o0, int64_t o1) const {
  const kernels::LowbitMatrix w = lowbit_view();
  const kernels::LowbitOps& ops = kernels::lowbit_ops(w);
  // Per-thread scratch: the padded row and its group sums, reused from token to token.
  thread_local std::vector<float> padded, xsum;
  const float* xp = x;
  if (w.in_padded != w.in) {
    padded.assign(static_cast<size_t>(w.in_padded), 0.0f);
    std::memcpy(padded.data(), x, sizeof(float) * static_cast<size_t>(w.in));
    xp = padded.data();
  }
  const int64_t groups = w.groups_per_row();
  xsum.resize(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    float s = 0;
    for (int64_t i = 0; i < w.group; ++i) s += x[g * w.group + i];
    xsum[static_cast<size_t>(g)] = s;
  }
  ops.gemv(w, xp, xsum.data(), 1, y, w.out, o0, o1);
  add_bias_rows(bias_, y, o0, o1);
}

at::Tensor HqqLinear::forward(const at::Tensor& x) const {
  at::Tensor b = bias_.defined() ? bias_.to(x.scalar_type()) : bias_;
  at::Tensor y = at::GradMode::is_enabled() && x.requires_grad()
                     ? FrozenMatmul<HqqLinear>::apply(x, this)
                     : forward_product(x);
  return b.defined() ? y + b : y;
}

int64_t HqqLinear::storage_bytes() const {
  auto bytes = [](const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; };
  return bytes(packed_) + bytes(lowbit_) + bytes(scale_) + bytes(zero_) + bytes(bias_);
}

std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>>
hqq_state_layout(const std::vector<int64_t>& shape, const QuantConfig& cfg, bool has_bias,
                 const std::string& name) {
  const int64_t g = resolve_group_size(shape, cfg, name);
  const int64_t numel = shape[0] * shape[1], M = numel / g;
  const int64_t rows = cfg.axis == 1 ? M : g, cols = cfg.axis == 1 ? g : M;
  std::vector<int64_t> meta =
      cfg.axis == 1 ? std::vector<int64_t>{M, 1} : std::vector<int64_t>{1, M};
  const std::string packing = packing_name(cfg.nbits);
  const std::string view = cfg.nbits == 3 ? "torch.int32" : "torch.uint8";
  const std::string compute = dtype_string(cfg.meta_dtype);
  std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>> l = {
      {"W_q", {cfg.nbits == 3 ? at::kInt : at::kByte, packed_shape(cfg.nbits, rows, cols)}},
      {"scale", {cfg.meta_dtype, meta}},
      {"zero", {cfg.meta_dtype, meta}},
  };
  if (has_bias) l.push_back({"bias", {cfg.meta_dtype, {shape[0]}}});
  l.push_back({"shape", {at::kLong, {2}}});
  for (const char* k : {"nbits", "group_size", "axis"}) l.push_back({k, {at::kInt, {}}});
  l.push_back({"packing", {at::kByte, {static_cast<int64_t>(packing.size())}}});
  l.push_back({"unpack_view_dtype", {at::kByte, {static_cast<int64_t>(view.size())}}});
  l.push_back({"compute_dtype", {at::kByte, {static_cast<int64_t>(compute.size())}}});
  for (const char* k :
       {"view_as_float", "quant_scale", "quant_zero", "offload_meta", "encoded_state_dict",
        "stores_quant_config", "channel_wise", "optimize", "round_zero"})
    l.push_back({k, {at::kByte, {}}});
  return l;
}

std::vector<std::pair<std::string, at::Tensor>> hqq_state_dict(const HqqLinear& layer,
                                                               const QuantConfig& c) {
  const std::string view = layer.nbits() == 3 ? "torch.int32" : "torch.uint8";
  std::vector<std::pair<std::string, at::Tensor>> out = {
      {"W_q", layer.packed()}, {"scale", layer.scale()}, {"zero", layer.zero()}};
  if (layer.bias().defined()) out.push_back({"bias", layer.bias().to(layer.scale().scalar_type())});
  out.push_back(
      {"shape",
       at::tensor(std::vector<int64_t>{layer.out_features(), layer.in_features()}, at::kLong)});
  out.push_back({"nbits", i32(layer.nbits())});
  out.push_back({"group_size", i32(layer.group_size())});
  out.push_back({"axis", i32(layer.axis())});
  out.push_back({"packing", ascii(packing_name(layer.nbits()))});
  out.push_back({"unpack_view_dtype", ascii(view)});
  out.push_back({"compute_dtype", ascii(dtype_string(layer.scale().scalar_type()))});
  out.push_back({"view_as_float", u8(false)});
  out.push_back({"quant_scale", u8(false)});
  out.push_back({"quant_zero", u8(false)});
  out.push_back({"offload_meta", u8(false)});
  out.push_back({"encoded_state_dict", u8(true)});
  out.push_back({"stores_quant_config", u8(true)});
  out.push_back({"channel_wise", u8(true)});
  out.push_back({"optimize", u8(c.optimizer != HqqOptimizer::Off)});
  out.push_back({"round_zero", u8(c.round_zero)});
  return out;
}

bool is_hqq_layer(const Checkpoint& ckpt, const std::string& prefix) {
  return ckpt.has(prefix + ".W_q");
}

std::unique_ptr<HqqLinear> load_hqq_linear(const Checkpoint& ckpt, const std::string& prefix,
                                           int64_t out, int64_t in, bool has_bias,
                                           at::ScalarType compute_dtype) {
  auto need = [&](const std::string& key) {
    if (!ckpt.has(prefix + "." + key))
      fail_input(ckpt.dir().string(), "quantized layer '" + prefix + "' lacks '" + key + "'");
    return ckpt.tensor(prefix + "." + key);
  };
  auto bad = [&](const std::string& what) {
    fail_input(ckpt.file_of(prefix + ".W_q"), "layer '" + prefix + "': " + what);
  };
  at::Tensor shape_t = need("shape");
  if (shape_t.numel() != 2) bad("shape must hold two values");
  std::vector<int64_t> shape = {shape_t[0].item<int64_t>(), shape_t[1].item<int64_t>()};
  if (shape[0] != out || shape[1] != in)
    bad("shape [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) +
        "] but config.json implies [" + std::to_string(out) + ", " + std::to_string(in) + "]");
  QuantConfig c;
  c.nbits = need("nbits").item<int>();
  c.group_size = need("group_size").item<int64_t>();
  c.axis = need("axis").item<int>();
  at::Tensor scale = need("scale"), zero = need("zero");
  c.meta_dtype = scale.scalar_type();
  std::vector<std::pair<std::string, std::pair<at::ScalarType, std::vector<int64_t>>>> layout;
  try {
    layout = hqq_state_layout(shape, c, false, prefix);
  } catch (const InputError& e) {
    bad(e.what());
  }
  at::Tensor packed = need("W_q");
  if (packed.scalar_type() != layout[0].second.first ||
      packed.sizes().vec() != layout[0].second.second)
    bad("W_q has the wrong dtype or shape for " + std::to_string(c.nbits) + "-bit, group " +
        std::to_string(c.group_size));
  if (scale.sizes().vec() != layout[1].second.second || zero.sizes() != scale.sizes())
    bad("scale/zero shapes do not match the group size");
  if (!at::isFloatingType(zero.scalar_type())) bad("zero must be floating point");
  // A NaN or inf scale/zero would dequantize to NaN weights and silently poison every output.
  if (!at::isfinite(scale).all().item<bool>() || !at::isfinite(zero).all().item<bool>())
    bad("scale or zero holds values that are not finite (NaN or inf)");
  at::Tensor bias = has_bias ? need("bias") : at::Tensor();
  auto layer = std::make_unique<HqqLinear>(packed, scale, zero, shape, c.nbits,
                                           resolve_group_size(shape, c, prefix), c.axis, bias,
                                           compute_dtype);
  // In a kernel layout the layer holds copies of codes, scales and zeros: the file's pages it
  // read (a quarter of the model for 4-bit codes) need not stay resident.
  if (layer->kernel())
    for (const char* key : {".W_q", ".scale", ".zero"}) ckpt.release(prefix + key);
  return layer;
}

}  // namespace hqq
