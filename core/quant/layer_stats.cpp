#include "core/quant/layer_stats.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

namespace hqq {

namespace {

constexpr int kBins = 64;
constexpr int64_t kBlock = 4096;  // elements per block of the sums (fixed: reproducible)
constexpr int kTile = 1024;       // elements per tile of the histograms: stays in L1

using Counts = std::array<int64_t, kBins>;

// Written for the vectoriser: no aliasing, no branch, the float selected before the conversion.
void tile_bins(const float* __restrict x, int n, int32_t* __restrict out, float lo, float hi,
               float width) {
  for (int i = 0; i < n; ++i) {
    const float v = x[i];
    const bool inside = (v >= lo) & (v <= hi);
    const float q =
        std::min((v - lo) * static_cast<float>(kBins) / width, static_cast<float>(kBins - 1));
    out[i] = static_cast<int32_t>(inside ? q : static_cast<float>(kBins));
  }
}

// at::histc's bin selection (LINEAR_INTERPOLATION in ATen's HistogramKernel.cpp): the edges are
// the fp32 lo and hi; values outside [lo, hi] (and NaN) are skipped; otherwise the bin is
// (int)((x - lo) * 64 / (hi - lo)) in fp32, 64 going to the last bin. The same expression here,
// over a tile at a time in a loop the compiler vectorises (the division included: still exact).
struct Binner {
  float lo, hi, width;
  Binner(double l, double h)
      : lo(static_cast<float>(l)), hi(static_cast<float>(h)), width(hi - lo) {}
  bool exact() const { return width > 0 && std::isfinite(width); }
  // out[i]: the bin of x[i], or kBins when it is outside [lo, hi] or NaN.
  void bins(const float* x, int n, int32_t* out) const { tile_bins(x, n, out, lo, hi, width); }
};

// Counts in four interleaved copies (value i goes to copy i % 4): consecutive values mostly
// fall in the same few bins, and one counter would serialise on its own increments.
struct Counter {
  int64_t n[4][kBins + 1] = {};  // slot kBins counts the values outside the range
  void add(const int32_t* pos, int count) {
    int i = 0;
    for (; i + 4 <= count; i += 4)
      ++n[0][pos[i]], ++n[1][pos[i + 1]], ++n[2][pos[i + 2]], ++n[3][pos[i + 3]];
    for (; i < count; ++i) ++n[0][pos[i]];
  }
  void into(Counts* c) const {
    for (int k = 0; k < kBins; ++k) (*c)[k] += n[0][k] + n[1][k] + n[2][k] + n[3][k];
  }
};

std::vector<int64_t> to_vector(const Counts& c) {
  return std::vector<int64_t>(c.begin(), c.end());
}

std::vector<int64_t> aten_histc(const at::Tensor& x, double lo, double hi) {
  at::Tensor h = at::histc(x, kBins, lo, hi).to(at::kLong);
  return std::vector<int64_t>(h.data_ptr<int64_t>(), h.data_ptr<int64_t>() + h.numel());
}

// Runs f(begin, end, block_index) over fixed blocks of kBlock elements, in parallel.
template <typename F>
void for_blocks(int64_t n, F&& f) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) f(b * kBlock, std::min(n, (b + 1) * kBlock), b);
  });
}

// Runs f(begin, end) over runs of whole blocks, in parallel (one call per thread's share).
template <typename F>
void for_chunks(int64_t n, F&& f) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 16,
                   [&](int64_t b0, int64_t b1) { f(b0 * kBlock, std::min(n, b1 * kBlock)); });
}

}  // namespace

DequantizeBlock hqq_dequantize_block(const QuantizedTensor& q) {
  // The meta-data in fp32 once (exact from fp16 or bf16), then per element what ATen's
  // (codes.float() - zero.float()) * scale.float() computes, with the same two roundings.
  auto scale = std::make_shared<at::Tensor>(q.scale.to(at::kFloat).contiguous());
  auto zero = std::make_shared<at::Tensor>(q.zero.to(at::kFloat).contiguous());
  const at::Tensor codes = q.codes.contiguous();
  const int64_t per_group = q.axis == 1 ? q.group_size : 0;
  const int64_t groups = scale->numel();
  return [scale, zero, codes, per_group, groups](int64_t begin, int64_t end, float* out) {
    const uint8_t* c = codes.data_ptr<uint8_t>();
    const float* s = scale->data_ptr<float>();
    const float* z = zero->data_ptr<float>();
    if (per_group) {  // axis 1: groups are consecutive runs of per_group values
      for (int64_t i = begin, m = begin / per_group; i < end; ++m) {
        const int64_t stop = std::min(end, (m + 1) * per_group);
        const float zm = z[m], sm = s[m];
        for (; i < stop; ++i) out[i - begin] = (static_cast<float>(c[i]) - zm) * sm;
      }
    } else {  // axis 0: value i belongs to column i % M of the grouped [g, M] layout
      for (int64_t i = begin, m = begin % groups; i < end; ++i) {
        out[i - begin] = (static_cast<float>(c[i]) - z[m]) * s[m];
        if (++m == groups) m = 0;
      }
    }
  };
}

DequantizeBlock dense_block(const at::Tensor& w_hat) {
  at::Tensor t = w_hat.to(at::kFloat).contiguous().reshape({-1});
  return [t](int64_t begin, int64_t end, float* out) {
    std::copy(t.data_ptr<float>() + begin, t.data_ptr<float>() + end, out);
  };
}

std::vector<int64_t> histc64(const float* x, int64_t n, double lo, double hi) {
  const Binner bin(lo, hi);
  if (!bin.exact())  // a degenerate range: ATen's own handling
    return aten_histc(at::from_blob(const_cast<float*>(x), {n}, at::kFloat), lo, hi);
  Counts total{};
  std::mutex mu;
  for_chunks(n, [&](int64_t b0, int64_t b1) {
    Counter c;
    int32_t pos[kTile];
    for (int64_t i = b0; i < b1; i += kTile) {
      const int count = static_cast<int>(std::min<int64_t>(kTile, b1 - i));
      bin.bins(x + i, count, pos);
      c.add(pos, count);
    }
    std::lock_guard<std::mutex> lock(mu);
    c.into(&total);
  });
  return to_vector(total);
}

void fill_error_stats(const float* w, int64_t n, float w_min, float w_max,
                      const DequantizeBlock& w_hat, LayerReport* r) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  // Pass 1: squared sums per block (summed in block order afterwards) and the largest error.
  std::vector<double> sq(static_cast<size_t>(blocks)), wsq(static_cast<size_t>(blocks));
  std::vector<float> err_max(static_cast<size_t>(blocks));
  for_blocks(n, [&](int64_t b, int64_t e, int64_t k) {
    float h[kBlock];
    w_hat(b, e, h);
    double s = 0, ws = 0;
    float em = 0;
    for (int64_t i = b; i < e; ++i) {
      const float d = w[i] - h[i - b];
      s += static_cast<double>(d) * static_cast<double>(d);
      ws += static_cast<double>(w[i]) * static_cast<double>(w[i]);
      em = std::max(em, std::fabs(d));
    }
    sq[k] = s, wsq[k] = ws, err_max[k] = em;
  });
  r->sq_error = r->weight_sq = 0;
  float em = 0;
  for (int64_t k = 0; k < blocks; ++k)
    r->sq_error += sq[k], r->weight_sq += wsq[k], em = std::max(em, err_max[k]);
  r->rel_error = r->weight_sq > 0 ? std::sqrt(r->sq_error / r->weight_sq) : 0.0;
  r->hist_min = w_min;
  r->hist_max = w_max;
  const double lo = r->hist_min, hi = r->hist_max > lo ? r->hist_max : lo + 1e-12;
  r->err_max = std::max(static_cast<double>(em), 1e-12);
  const Binner wb(lo, hi), eb(-r->err_max, r->err_max);
  if (!wb.exact() || !eb.exact()) {  // a constant weight: ATen's handling of the range
    at::Tensor wt = at::from_blob(const_cast<float*>(w), {n}, at::kFloat);
    at::Tensor ht = at::empty({n}, at::kFloat);
    w_hat(0, n, ht.data_ptr<float>());
    r->hist_original = aten_histc(wt, lo, hi);
    r->hist_dequantized = aten_histc(ht.clamp(lo, hi), lo, hi);
    r->hist_error = aten_histc(wt - ht, -r->err_max, r->err_max);
    return;
  }
  // Pass 2: the three histograms; Ŵ is clamped to the weight's range as the report shows it.
  Counts orig{}, deq{}, err{};
  std::mutex mu;
  for_chunks(n, [&](int64_t c0, int64_t c1) {
    auto co = std::make_unique<Counter>(), cd = std::make_unique<Counter>(),
         ce = std::make_unique<Counter>();
    float h[kTile], clamped[kTile], err_t[kTile];
    int32_t po[kTile], pd[kTile], pe[kTile];
    for (int64_t b = c0; b < c1; b += kTile) {
      const int count = static_cast<int>(std::min<int64_t>(kTile, c1 - b));
      w_hat(b, b + count, h);
      const float lo_f = wb.lo, hi_f = wb.hi;  // locals: the stores below cannot alias them
      for (int i = 0; i < count; ++i) {
        clamped[i] = std::min(std::max(h[i], lo_f), hi_f);  // as the report shows Ŵ
        err_t[i] = w[b + i] - h[i];
      }
      wb.bins(w + b, count, po);
      wb.bins(clamped, count, pd);
      eb.bins(err_t, count, pe);
      co->add(po, count), cd->add(pd, count), ce->add(pe, count);
    }
    std::lock_guard<std::mutex> lock(mu);
    co->into(&orig), cd->into(&deq), ce->into(&err);
  });
  r->hist_original = to_vector(orig);
  r->hist_dequantized = to_vector(deq);
  r->hist_error = to_vector(err);
}

}  // namespace hqq
