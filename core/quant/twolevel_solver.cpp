#include "core/quant/twolevel_solver.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/error.h"
#include "core/quant/hqq_quantizer.h"

namespace hqq {
namespace {

inline float f16(float v) {
  return static_cast<float>(static_cast<at::Half>(v));
}

// One super-group of one row: S weights, Gb sub-groups of g.
struct Block {
  const float* w = nullptr;
  const float* imp = nullptr;
  int64_t S = 0, g = 0, Gb = 0;
  float qmax = 0;
  int smax = 0, zmax = 0;
  // State: the fp16 pair and the integer meta codes; codes follow from them.
  float d = 1, e = 1;
  std::vector<int> sq, zq;

  // Weighted error of sub-group j with scale s and zero z and its nearest codes (written to
  // `codes` when given). s = d·sq and z = e·zq exactly as dequantization computes them.
  double group_err(int64_t j, float s, float z, uint8_t* codes) const {
    const float* wj = w + j * g;
    const float* ij = imp + j * g;
    double err = 0;
    if (!(s > 0)) {
      for (int64_t i = 0; i < g; ++i) {
        err += static_cast<double>(ij[i]) * wj[i] * wj[i];
        if (codes) codes[i] = 0;
      }
      return err;
    }
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < g; ++i) {
      const float qf = std::clamp(std::nearbyint(wj[i] * inv + z), 0.0f, qmax);
      const float r = (qf - z) * s - wj[i];
      err += static_cast<double>(ij[i]) * r * r;
      if (codes) codes[i] = static_cast<uint8_t>(qf);
    }
    return err;
  }
  double err_of(int64_t j, float dd, float ee, int a, int b, uint8_t* codes = nullptr) const {
    return group_err(j, dd * static_cast<float>(a), ee * static_cast<float>(b), codes);
  }
  double total(float dd, float ee) const {
    double t = 0;
    for (int64_t j = 0; j < Gb; ++j) t += err_of(j, dd, ee, sq[j], zq[j]);
    return t;
  }

  // The best integer (sq, zq) of sub-group j near the real (st, zt) for the pair (dd, ee); the
  // current codes compete when `keep` is set. Returns the group's error.
  double choose(int64_t j, float st, float zt, float dd, float ee, bool keep) {
    double best = keep ? err_of(j, dd, ee, sq[j], zq[j]) : INFINITY;
    const float a = std::isfinite(st / dd) ? st / dd : 0.0f,
                b = std::isfinite(zt / ee) ? zt / ee : 0.0f;
    const int a0 = std::clamp(static_cast<int>(std::floor(a)), 0, smax);
    const int b0 = std::clamp(static_cast<int>(std::floor(b)), 0, zmax);
    for (int ca : {a0, std::min(a0 + 1, smax)})
      for (int cb : {b0, std::min(b0 + 1, zmax)}) {
        const double e2 = err_of(j, dd, ee, ca, cb);
        if (e2 < best) best = e2, sq[j] = ca, zq[j] = cb;
      }
    return best;
  }

  // Weighted least squares of w ≈ a·q + b over sub-group j with codes q: (scale, zero).
  bool refit(int64_t j, const uint8_t* q, float* st, float* zt) const {
    double s0 = 0, sq1 = 0, sqq = 0, sw = 0, sqw = 0;
    for (int64_t i = 0; i < g; ++i) {
      const double m = imp[j * g + i], qi = q[i], wi = w[j * g + i];
      s0 += m, sq1 += m * qi, sqq += m * qi * qi, sw += m * wi, sqw += m * qi * wi;
    }
    const double det = s0 * sqq - sq1 * sq1;
    if (!(det > 1e-12 * s0 * s0) || !(s0 > 0)) return false;
    const double a = (s0 * sqw - sq1 * sw) / det;
    if (!(a > 0)) return false;
    const double b = (sw - a * sq1) / s0;
    *st = static_cast<float>(a);
    *zt = static_cast<float>(-b / a);
    return true;
  }

  // Weighted least squares of the pair for the current meta codes and codes `q` [S].
  bool refit_pair(const uint8_t* q, float* dd, float* ee) const {
    double aa = 0, ab = 0, bb = 0, aw = 0, bw = 0;
    for (int64_t j = 0; j < Gb; ++j) {
      const double sj = sq[j], bj = -static_cast<double>(sq[j]) * zq[j];
      for (int64_t i = 0; i < g; ++i) {
        const double m = imp[j * g + i], A = sj * q[j * g + i], wi = w[j * g + i];
        aa += m * A * A, ab += m * A * bj, bb += m * bj * bj, aw += m * A * wi, bw += m * bj * wi;
      }
    }
    const double det = aa * bb - ab * ab;
    if (!(det > 1e-18 * aa * bb) || !(aa > 0)) return false;
    const double u = (aw * bb - ab * bw) / det, v = (aa * bw - ab * aw) / det;
    if (!(u > 0) || !(v >= 0)) return false;
    *dd = f16(static_cast<float>(u));
    *ee = f16(static_cast<float>(v / u));
    return *dd > 0 && std::isfinite(*dd) && std::isfinite(*ee) && *ee > 0;
  }

  // The grid (d, e) for real per-group scales and zeros: max / top code, shrunk by the factors.
  void grid(const float* s0, const float* z0, float fs, float fz, float* dd, float* ee) const {
    float ms = 0, mz = 0;
    for (int64_t j = 0; j < Gb; ++j) ms = std::max(ms, s0[j]), mz = std::max(mz, z0[j]);
    *dd = ms > 0 ? f16(fs * ms / static_cast<float>(smax)) : 1.0f;
    *ee = mz > 0 ? f16(fz * mz / static_cast<float>(zmax)) : 1.0f;
    if (!(*dd > 0)) *dd = 1.0f;
    if (!(*ee > 0)) *ee = 1.0f;
  }

  void solve(const float* s0, const float* z0, int iters, uint8_t* codes) {
    sq.assign(static_cast<size_t>(Gb), 0);
    zq.assign(static_cast<size_t>(Gb), 0);
    std::vector<int> bsq, bzq;
    double best = INFINITY;
    // Starts: grids from today's solution; the plain grid (1, 1) with plain rounding is the
    // baseline, and the joint choice of neighbours is never worse on the same grid.
    for (float fs : {1.0f, 0.95f, 0.9f, 0.85f, 0.8f, 0.75f})
      for (float fz : {1.0f, 0.9f, 0.8f}) {
        float dd, ee;
        grid(s0, z0, fs, fz, &dd, &ee);
        double t = 0;
        for (int64_t j = 0; j < Gb; ++j) t += choose(j, s0[j], z0[j], dd, ee, false);
        if (t < best) best = t, d = dd, e = ee, bsq = sq, bzq = zq;
      }
    sq = bsq, zq = bzq;
    std::vector<uint8_t> q(static_cast<size_t>(S));
    for (int it = 0; it < iters; ++it) {
      const double before = best;
      // 1. Sub-groups: refit (scale, zero) on the codes, then the best neighbouring meta codes.
      double t = 0;
      for (int64_t j = 0; j < Gb; ++j) {
        err_of(j, d, e, sq[j], zq[j], q.data() + j * g);
        float st, zt;
        if (refit(j, q.data() + j * g, &st, &zt))
          t += choose(j, st, zt, d, e, true);
        else
          t += err_of(j, d, e, sq[j], zq[j]);
      }
      best = t;
      // 2. The pair, for these meta codes and codes.
      for (int64_t j = 0; j < Gb; ++j) err_of(j, d, e, sq[j], zq[j], q.data() + j * g);
      float nd, ne;
      if (refit_pair(q.data(), &nd, &ne)) {
        const double t2 = total(nd, ne);
        if (t2 < best) best = t2, d = nd, e = ne;
      }
      if (!(best < before * (1 - 1e-6))) break;
    }
    for (int64_t j = 0; j < Gb; ++j) err_of(j, d, e, sq[j], zq[j], codes + j * g);
  }
};

at::Tensor checked_float(const at::Tensor& w, const TwoLevelParams& p, const std::string& name) {
  if (w.dim() != 2) throw InputError(name + ": only 2-D weights can be quantized");
  check_twolevel(p, w.size(0), w.size(1), name);
  if (!at::isFloatingType(w.scalar_type()))
    throw InputError(name + ": weight is not a floating-point tensor");
  at::Tensor W = w.to(at::kFloat).contiguous();
  if (!at::isfinite(W).all().item<bool>())
    throw InputError(name + ": weight contains NaN or infinite values");
  return W;
}

// Today's per-sub-group solution: fp16 scale and zero from the improved optimizer, as fp32.
QuantizedTensor todays_solution(const at::Tensor& W, const TwoLevelParams& p,
                                const std::string& name, const JobContext& job = {},
                                const at::Tensor& input_importance = {}) {
  QuantConfig c;
  c.nbits = p.nbits;
  c.group_size = p.group;
  c.axis = 1;
  c.optimizer = HqqOptimizer::Improved;
  c.meta_dtype = at::kHalf;
  return quantize(W, c, name, job, input_importance);
}

}  // namespace

TwoLevelParams twolevel_params(const QuantConfig& c) {
  TwoLevelParams p;
  p.nbits = c.nbits;
  p.group = c.group_size;
  p.scale_bits = c.scale_bits;
  p.zero_bits = c.zero_bits;
  p.super_group = c.super_group;
  return p;
}

at::Tensor twolevel_importance(const at::Tensor& w, const TwoLevelParams& p,
                               TwoLevelWeighting weighting) {
  at::Tensor W = w.to(at::kFloat);
  if (weighting == TwoLevelWeighting::Uniform) return at::ones_like(W);
  const int64_t N = W.size(0), K = W.size(1);
  at::Tensor blocks = W.reshape({N, K / p.super_group, p.super_group});
  at::Tensor rms = blocks.pow(2).mean(-1, true).sqrt();
  return (blocks.abs() + rms).reshape({N, K}).contiguous();
}

double weighted_sq_error(const at::Tensor& w, const at::Tensor& w_hat, const at::Tensor& imp) {
  at::Tensor d = (w.to(at::kDouble) - w_hat.to(at::kDouble));
  return (d * d * imp.to(at::kDouble)).sum().item<double>();
}

TwoLevelTensor quantize_twolevel(const at::Tensor& w, const TwoLevelParams& p,
                                 const std::string& name, const TwoLevelSolverOptions& o,
                                 const JobContext& job) {
  at::Tensor W = checked_float(w, p, name);
  const int64_t N = W.size(0), K = W.size(1), G = K / p.group, per_row = K / p.super_group;
  const QuantizedTensor today = todays_solution(W, p, name, job, o.input_importance);
  at::Tensor s0 = today.scale.to(at::kFloat).reshape({N, G}).contiguous();
  at::Tensor z0 = today.zero.to(at::kFloat).reshape({N, G}).contiguous();
  at::Tensor imp = twolevel_importance(W, p, o.weighting);
  if (o.input_importance.defined())
    imp = (imp * o.input_importance.to(at::kFloat).unsqueeze(0)).contiguous();
  TwoLevelTensor t;
  t.params = p;
  t.out = N;
  t.in = K;
  t.codes = at::empty({N, K}, at::kByte);
  t.scale_q = at::empty({N, G}, at::kByte);
  t.zero_q = at::empty({N, G}, at::kByte);
  at::Tensor super = at::empty({N, per_row, 2}, at::kFloat);
  const int64_t Gb = p.super_group / p.group, blocks = N * per_row;
  // Blocks are independent: solved in slices of ~1 M weights with a stop check between them.
  const int64_t slice = std::max<int64_t>(1, (int64_t{1} << 20) / p.super_group);
  for (int64_t s_begin = 0; s_begin < blocks; s_begin += slice) {
    job.check();
    at::parallel_for(s_begin, std::min(blocks, s_begin + slice),
                     std::max<int64_t>(1, 4096 / p.super_group), [&](int64_t b0, int64_t b1) {
                       for (int64_t b = b0; b < b1; ++b) {
                         const int64_t off = b * p.super_group,
                                       goff = b * Gb;  // row-major: blocks tile the rows
                         Block blk;
                         blk.w = W.data_ptr<float>() + off;
                         blk.imp = imp.data_ptr<float>() + off;
                         blk.S = p.super_group;
                         blk.g = p.group;
                         blk.Gb = Gb;
                         blk.qmax = static_cast<float>((1 << p.nbits) - 1);
                         blk.smax = (1 << p.scale_bits) - 1;
                         blk.zmax = (1 << p.zero_bits) - 1;
                         blk.solve(s0.data_ptr<float>() + goff, z0.data_ptr<float>() + goff,
                                   o.iters, t.codes.data_ptr<uint8_t>() + off);
                         for (int64_t j = 0; j < Gb; ++j) {
                           t.scale_q.data_ptr<uint8_t>()[goff + j] =
                               static_cast<uint8_t>(blk.sq[j]);
                           t.zero_q.data_ptr<uint8_t>()[goff + j] = static_cast<uint8_t>(blk.zq[j]);
                         }
                         super.data_ptr<float>()[2 * b] = blk.d;
                         super.data_ptr<float>()[2 * b + 1] = blk.e;
                       }
                     });
  }
  t.super = super.to(at::kHalf);
  return t;
}

TwoLevelTensor round_meta_of_hqq(const at::Tensor& w, const TwoLevelParams& p) {
  at::Tensor W = checked_float(w, p, "tensor");
  const int64_t N = W.size(0), K = W.size(1), G = K / p.group, per_row = K / p.super_group;
  const int64_t Gb = p.super_group / p.group;
  const QuantizedTensor today = todays_solution(W, p, "tensor");
  at::Tensor s0 = today.scale.to(at::kFloat).reshape({N * per_row, Gb});
  at::Tensor z0 = today.zero.to(at::kFloat).reshape({N * per_row, Gb});
  const double smax = (1 << p.scale_bits) - 1, zmax = (1 << p.zero_bits) - 1;
  at::Tensor ms = std::get<0>(s0.max(1, true)), mz = std::get<0>(z0.max(1, true));
  at::Tensor d = at::where(ms > 0, ms / smax, at::ones_like(ms)).to(at::kHalf).to(at::kFloat);
  at::Tensor e = at::where(mz > 0, mz / zmax, at::ones_like(mz)).to(at::kHalf).to(at::kFloat);
  d = at::where(d > 0, d, at::ones_like(d));
  e = at::where(e > 0, e, at::ones_like(e));
  TwoLevelTensor t;
  t.params = p;
  t.out = N;
  t.in = K;
  t.codes = today.codes.reshape({N, K}).contiguous();
  t.scale_q = at::clamp(at::round(s0 / d), 0, smax).to(at::kByte).reshape({N, G});
  t.zero_q = at::clamp(at::round(z0 / e), 0, zmax).to(at::kByte).reshape({N, G});
  t.super = at::stack({d.squeeze(1), e.squeeze(1)}, 1).reshape({N, per_row, 2}).to(at::kHalf);
  return t;
}

}  // namespace hqq
