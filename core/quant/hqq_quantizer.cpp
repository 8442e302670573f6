#include "core/quant/hqq_quantizer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "core/base/error.h"
#include "core/quant/hqq_packing.h"
#include "kernels/hqq_group_ops.h"

namespace hqq {
namespace {

// Initial inverse scale and zero of one group from its range (reference §1.4).
struct Init {
  float s, z;
};
inline Init minmax_init(float mn, float mx, float qmax, bool round_zero) {
  float s = std::fabs(mx - mn) <= 1e-4f ? 1.0f : qmax / (mx - mn);
  s = std::min(s, 2e4f);  // the reference's guard "for half precision"
  float z = -mn * s;
  if (round_zero) z = std::nearbyint(z);
  return {s, z};
}

// Whether every value of a contiguous fp32 tensor is finite, without at::isfinite's
// tensor-sized bool temporary (fresh pages for every weight of a streamed checkpoint).
bool all_finite(const at::Tensor& w) {
  const float* p = w.data_ptr<float>();
  std::atomic<bool> ok{true};
  at::parallel_for(0, w.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    uint32_t special = 0;  // all exponent bits set: an infinity or a NaN
    for (int64_t i = b; i < e; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + i, 4);
      special |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (special) ok = false;
  });
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Fused engine. Groups are rows of a contiguous [M, g] matrix.

// Reference solver, global early stop. Pass 1 runs every group's full trajectory and sums the
// error of each iteration over all groups (all groups stop together in the reference); pass 2
// replays each group up to the stopping iteration and writes its codes. Nothing but the
// per-iteration totals is stored, whatever the tensor size.
int fused_reference(const float* w, int64_t M, int64_t g, const QuantConfig& c, float* scale,
                    float* zero, uint8_t* codes) {
  const float qmax = static_cast<float>((1 << c.nbits) - 1);
  const int iters = c.iters;
  std::vector<double> betas(iters);
  for (int t = 0; t < iters; ++t) betas[t] = c.beta * std::pow(static_cast<double>(c.kappa), t);
  const int64_t grain = std::max<int64_t>(1, 16384 / g);
  std::vector<double> totals(iters, 0.0);
  std::mutex mu;
  const kernels::GroupOps& ops = kernels::group_ops();
  at::parallel_for(0, M, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> local(iters, 0.0);
    for (int64_t m = begin; m < end; ++m) {
      const float* wg = w + m * g;
      float mn, mx;
      ops.range(wg, g, &mn, &mx);
      Init in = minmax_init(mn, mx, qmax, c.round_zero);
      float z = in.z;
      for (int t = 0; t < iters; ++t)
        local[t] +=
            ops.reference_step(wg, g, in.s, &z, qmax, static_cast<float>(betas[t]), c.lp_norm);
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int t = 0; t < iters; ++t) totals[t] += local[t];
  });
  // The reference checks the error after each update and stops at the first that is not lower,
  // keeping the z of that failing iteration; without a stop it applies all `iters` updates.
  int stop = iters - 1;
  double best = std::numeric_limits<double>::infinity();
  for (int t = 0; t < iters; ++t) {
    double err = static_cast<double>(static_cast<float>(totals[t] / static_cast<double>(M * g)));
    if (err < best) {
      best = err;
    } else {
      stop = t;
      break;
    }
  }
  at::parallel_for(0, M, grain, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      const float* wg = w + m * g;
      float mn, mx;
      ops.range(wg, g, &mn, &mx);
      Init in = minmax_init(mn, mx, qmax, c.round_zero);
      float z = in.z;
      for (int t = 0; t <= stop; ++t)
        ops.reference_step(wg, g, in.s, &z, qmax, static_cast<float>(betas[t]), c.lp_norm);
      ops.encode(wg, g, in.s, z, qmax, codes + m * g);
      scale[m] = 1.0f / in.s;
      zero[m] = z;
    }
  });
  return stop + 1;
}

void fused_rtn(const float* w, int64_t M, int64_t g, const QuantConfig& c, float* scale,
               float* zero, uint8_t* codes) {
  const float qmax = static_cast<float>((1 << c.nbits) - 1);
  const kernels::GroupOps& ops = kernels::group_ops();
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / g), [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      const float* wg = w + m * g;
      float mn, mx;
      ops.range(wg, g, &mn, &mx);
      Init in = minmax_init(mn, mx, qmax, c.round_zero);
      ops.encode(wg, g, in.s, in.z, qmax, codes + m * g);
      scale[m] = 1.0f / in.s;
      zero[m] = in.z;
    }
  });
}

// Rounds a value as it will be stored (fp16/bf16 meta), so that the codes are chosen for the
// scale and zero that dequantization will really use.
inline float as_stored(float v, at::ScalarType t) {
  if (t == at::kHalf) return static_cast<float>(static_cast<at::Half>(v));
  if (t == at::kBFloat16) return static_cast<float>(static_cast<at::BFloat16>(v));
  return v;
}

// The squared error and least-squares sums of one group, each weight's term weighted by h[i]
// (calibration: how much its input channel moves the layer's output). out[4] = Σ h.
double weighted_sq_error(const float* w, const float* h, int64_t g, float a, float z, float qmax) {
  const float inv = 1.0f / a;
  double e = 0;
  for (int64_t i = 0; i < g; ++i) {
    const float q = std::min(std::max(std::nearbyint(w[i] * inv + z), 0.0f), qmax);
    const float d = w[i] - (q - z) * a;
    e += static_cast<double>(h[i]) * d * d;
  }
  return e;
}

void weighted_ls_stats(const float* w, const float* h, int64_t g, float inv_a, float z, float qmax,
                       double out[5]) {
  double sq = 0, sw = 0, sqq = 0, sqw = 0, sh = 0;
  for (int64_t i = 0; i < g; ++i) {
    const double q = std::min(std::max(std::nearbyint(w[i] * inv_a + z), 0.0f), qmax);
    const double hi = h[i];
    sq += hi * q, sw += hi * w[i], sqq += hi * q * q, sqw += hi * q * w[i], sh += hi;
  }
  out[0] = sq, out[1] = sw, out[2] = sqq, out[3] = sqw, out[4] = sh;
}

// Improved optimizer, per group: best start among the reference solution (per-group early stop)
// and shrunken ranges, then alternating least squares on the squared error. With `importance`
// ([groups_per_row * g], one weight per input), the starts compete and the least squares run on
// the importance-weighted squared error instead; group m (of the whole tensor: m_offset + m)
// covers inputs ((m_offset + m) % groups_per_row) * g onwards. The nearest codes for a scale and
// offset minimise every term on their own, so the code step needs no weights.
int fused_improved(const float* w, int64_t M, int64_t g, const QuantConfig& c, float* scale,
                   float* zero, uint8_t* codes, const float* importance = nullptr,
                   int64_t groups_per_row = 1, int64_t m_offset = 0) {
  const float qmax = static_cast<float>((1 << c.nbits) - 1);
  // Tighter clipping pays at low bits, where the extreme weights cost the most resolution.
  const std::vector<float> shrink =
      c.nbits <= 2 ? std::vector<float>{1.0f, 0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f}
                   : std::vector<float>{1.0f, 0.95f, 0.9f, 0.85f, 0.8f};
  const int ls_iters = 20;
  // The reference start's beta per iteration, once per tensor rather than a pow() per group
  // and iteration (a tenth of a 7B checkpoint's quantization time); the same float values.
  std::vector<float> betas(static_cast<size_t>(std::max(c.iters, 0)));
  for (int t = 0; t < c.iters; ++t)
    betas[t] = static_cast<float>(c.beta * std::pow(static_cast<double>(c.kappa), t));
  const kernels::GroupOps& ops = kernels::group_ops();
  std::atomic<int> max_iters{0};
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / g), [&](int64_t begin, int64_t end) {
    int local_iters = 0;
    for (int64_t m = begin; m < end; ++m) {
      const float* wg = w + m * g;
      const float* hg = importance ? importance + ((m_offset + m) % groups_per_row) * g : nullptr;
      auto sq_error = [&](float sa, float sz) {
        return hg ? weighted_sq_error(wg, hg, g, sa, sz, qmax) : ops.sq_error(wg, g, sa, sz, qmax);
      };
      float mn, mx;
      ops.range(wg, g, &mn, &mx);
      // Start 1: the reference solver on this group alone, keeping its best z by L1.
      Init in = minmax_init(mn, mx, qmax, c.round_zero);
      float z = in.z, best_z = in.z;
      double best_l1 = std::numeric_limits<double>::infinity();
      for (int t = 0; t < c.iters; ++t) {
        const float beta = betas[t];
        const float current = z;
        const double l1 =
            ops.reference_step(wg, g, in.s, &z, qmax, beta, c.lp_norm);  // error of `current`
        if (!(l1 < best_l1)) break;
        best_l1 = l1;
        best_z = current;
      }
      float a = 1.0f / in.s, zz = best_z;
      double best = sq_error(a, zz);
      // Other starts: the range [c - f h, c + f h] for each shrink factor f.
      const float center = 0.5f * (mx + mn), half = 0.5f * (mx - mn);
      if (half > 0) {
        for (float f : shrink) {
          const float ca = 2.0f * f * half / qmax;
          const float cz = -(center - f * half) / ca;
          const double e = sq_error(ca, cz);
          if (e < best) best = e, a = ca, zz = cz;
        }
      }
      // Alternating least squares on w ≈ a q + b (b = -a z): optimal (a, b) for the codes, then
      // the nearest codes for (a, b); the squared error never increases.
      int it = 0;
      for (; it < ls_iters; ++it) {
        double st[5];
        if (hg) {
          weighted_ls_stats(wg, hg, g, 1.0f / a, zz, qmax, st);
        } else {
          ops.ls_stats(wg, g, 1.0f / a, zz, qmax, st);
          st[4] = static_cast<double>(g);
        }
        const double n = st[4];
        const double var = st[2] - st[0] * st[0] / n;
        if (!(var > 1e-12)) break;  // all codes equal: a constant group is already exact
        const double na = (st[3] - st[0] * st[1] / n) / var;
        if (!(na > 1e-12)) break;
        const double nb = (st[1] - na * st[0]) / n;
        const float ca = static_cast<float>(na), cz = static_cast<float>(-nb / na);
        const double e = sq_error(ca, cz);
        if (!(e < best * (1 - 1e-7))) break;
        best = e, a = ca, zz = cz;
      }
      local_iters = std::max(local_iters, it);
      a = as_stored(a, c.meta_dtype);
      zz = as_stored(zz, c.meta_dtype);
      ops.encode(wg, g, 1.0f / a, zz, qmax, codes + m * g);
      scale[m] = a;
      zero[m] = zz;
    }
    int cur = max_iters.load();
    while (local_iters > cur && !max_iters.compare_exchange_weak(cur, local_iters)) {
    }
  });
  return max_iters.load();
}

// ---------------------------------------------------------------------------------------------
// ATen engine: the reference's own op sequence on the grouped tensor (reference §1-§2.2).

int aten_quantize(const at::Tensor& G, const QuantConfig& c, at::Tensor* Wq, at::Tensor* scale,
                  at::Tensor* zero) {
  const int64_t axis = c.axis;
  const double qmax = (1 << c.nbits) - 1;
  at::Tensor mn = std::get<0>(G.min(axis, true)), mx = std::get<0>(G.max(axis, true));
  at::Tensor s = qmax / (mx - mn);
  s = at::where((mx - mn).abs() <= 1e-4, at::ones_like(s), s);
  s = at::clamp_max(s, 2e4);
  at::Tensor z = -mn * s;
  if (c.round_zero) z = at::round(z);
  int ran = 0;
  if (c.optimizer == HqqOptimizer::Reference) {
    double beta = c.beta, best = std::numeric_limits<double>::infinity();
    for (int t = 0; t < c.iters; ++t) {
      at::Tensor q = at::clamp(at::round(G * s + z), 0, qmax);
      at::Tensor r = (q - z) / s;
      at::Tensor x = G - r;
      at::Tensor e =
          at::sign(x) * at::relu(at::abs(x) - (1.0 / beta) * at::pow(at::abs(x), c.lp_norm - 1.0));
      z = at::mean(q - (G - e) * s, axis, true);
      double err = at::mean(at::abs(G - r)).item<float>();
      ++ran;
      if (err < best) {
        best = err;
        beta *= c.kappa;
      } else {
        break;
      }
    }
  }
  *Wq = at::clamp(at::round(G * s + z), 0, qmax).to(at::kByte);
  *scale = 1.0 / s;
  *zero = z;
  return ran;
}

}  // namespace

const char* optimizer_name(HqqOptimizer o) {
  switch (o) {
    case HqqOptimizer::Off:
      return "off";
    case HqqOptimizer::Reference:
      return "reference";
    case HqqOptimizer::Improved:
      return "improved";
  }
  return "?";
}

HqqOptimizer optimizer_from_name(const std::string& s) {
  if (s == "off" || s == "rtn") return HqqOptimizer::Off;
  if (s == "reference") return HqqOptimizer::Reference;
  if (s == "improved") return HqqOptimizer::Improved;
  throw InputError("unknown optimizer '" + s + "' (use off, reference or improved)");
}

int64_t resolve_group_size(const std::vector<int64_t>& shape, const QuantConfig& c,
                           const std::string& name) {
  if (c.nbits != 1 && c.nbits != 2 && c.nbits != 3 && c.nbits != 4 && c.nbits != 8)
    throw InputError(name + ": nbits " + std::to_string(c.nbits) +
                     " is not supported (1, 2, 3, 4, 8)");
  if (c.axis != 0 && c.axis != 1) throw InputError(name + ": axis must be 0 or 1");
  if (shape.size() != 2) throw InputError(name + ": only 2-D weights can be quantized");
  const int64_t N = shape[0], K = shape[1], numel = N * K;
  if (numel == 0) throw InputError(name + ": empty tensor");
  int64_t g = c.group_size;
  if (g < 0) throw InputError(name + ": group size must be positive");
  if (g == 0) g = c.axis == 1 ? K : N;  // per channel
  if (numel % g != 0)
    throw InputError(name + ": group size " + std::to_string(g) + " does not divide the " +
                     std::to_string(N) + "x" + std::to_string(K) + " tensor");
  if (c.nbits != 3 && c.nbits != 8) {
    const int k = codes_per_element(c.nbits);
    const int64_t rows = c.axis == 1 ? numel / g : g;
    if (rows % k != 0)
      throw InputError(name + ": " + std::to_string(c.nbits) +
                       "-bit packing needs the grouped row count (" + std::to_string(rows) +
                       ") to be divisible by " + std::to_string(k));
  }
  return g;
}

QuantizedTensor quantize(const at::Tensor& weight, const QuantConfig& c, const std::string& name,
                         const JobContext& job, const at::Tensor& importance) {
  job.check();
  std::vector<int64_t> shape = weight.sizes().vec();
  const int64_t g = resolve_group_size(shape, c, name);
  at::Tensor h;
  if (importance.defined()) {
    if (c.axis != 1 || c.optimizer != HqqOptimizer::Improved || c.engine != HqqEngine::Fused)
      throw InputError(name +
                       ": calibration weights need the improved optimizer, grouped along inputs");
    if (shape.size() != 2 || importance.dim() != 1 || importance.size(0) != shape[1])
      throw InputError(name + ": calibration weights have " + std::to_string(importance.numel()) +
                       " entries, the layer has " +
                       std::to_string(shape.size() == 2 ? shape[1] : 0) + " inputs");
    h = importance.to(at::kFloat).contiguous();
    if (!all_finite(h) || h.min().item<float>() < 0)
      throw InputError(name + ": calibration weights are negative or not finite");
  }
  if (!at::isFloatingType(weight.scalar_type()))
    throw InputError(name + ": weight is not a floating-point tensor");
  if (c.iters < 0 || !(c.beta > 0) || !(c.kappa > 0) || !(c.lp_norm > 0 && c.lp_norm <= 1))
    throw InputError(name + ": invalid optimizer parameters");
  at::Tensor W = weight.to(at::kFloat).contiguous();
  if (!all_finite(W)) throw InputError(name + ": weight contains NaN or infinite values");
  const int64_t numel = W.numel(), M = numel / g;

  QuantizedTensor q;
  q.shape = shape;
  q.nbits = c.nbits;
  q.group_size = g;
  q.axis = c.axis;
  at::Tensor scale, zero;
  if (c.engine == HqqEngine::Aten) {
    if (c.optimizer == HqqOptimizer::Improved)
      throw InputError("the ATen engine implements off and reference only");
    at::Tensor G = c.axis == 1 ? W.reshape({M, g}) : W.reshape({g, M});
    q.iterations = aten_quantize(G, c, &q.codes, &scale, &zero);
  } else {
    // Group-major [M, g] buffer: for axis 0 a group is a column of the reference's [g, M] view.
    at::Tensor groups = c.axis == 1 ? W.reshape({M, g}) : W.reshape({g, M}).t().contiguous();
    at::Tensor codes = at::empty({M, g}, at::kByte);
    scale = at::empty({M}, at::kFloat);
    zero = at::empty({M}, at::kFloat);
    const float* w = groups.data_ptr<float>();
    float *s = scale.data_ptr<float>(), *z = zero.data_ptr<float>();
    uint8_t* cd = codes.data_ptr<uint8_t>();
    if (c.optimizer == HqqOptimizer::Reference) {
      q.iterations = fused_reference(w, M, g, c, s, z, cd);
    } else {
      // Groups are solved independently: slicing the rows changes no result, only where a stop
      // can land (~4 M weights, tens of ms, per slice).
      const int64_t slice = std::max<int64_t>(1, (int64_t{1} << 22) / g);
      for (int64_t m0 = 0; m0 < M; m0 += slice) {
        job.check();
        const int64_t n = std::min(slice, M - m0);
        if (c.optimizer == HqqOptimizer::Off) {
          fused_rtn(w + m0 * g, n, g, c, s + m0, z + m0, cd + m0 * g);
        } else {
          q.iterations = std::max(q.iterations,
                                  fused_improved(w + m0 * g, n, g, c, s + m0, z + m0, cd + m0 * g,
                                                 h.defined() ? h.data_ptr<float>() : nullptr,
                                                 h.defined() ? shape[1] / g : 1, m0));
        }
      }
    }
    q.codes = c.axis == 1 ? codes : codes.t().contiguous();
    scale = c.axis == 1 ? scale.view({M, 1}) : scale.view({1, M});
    zero = c.axis == 1 ? zero.view({M, 1}) : zero.view({1, M});
  }
  q.scale = scale.to(c.meta_dtype);
  q.zero = zero.to(c.meta_dtype);
  return q;
}

at::Tensor dequantize(const QuantizedTensor& q, at::ScalarType dtype) {
  at::Tensor w = (q.codes.to(dtype) - q.zero.to(dtype)) * q.scale.to(dtype);
  return w.reshape(q.shape);
}

double relative_error(const at::Tensor& w, const at::Tensor& w_hat) {
  at::Tensor a = w.to(at::kDouble), b = w_hat.to(at::kDouble);
  return ((a - b).norm() / a.norm()).item<double>();
}

}  // namespace hqq
