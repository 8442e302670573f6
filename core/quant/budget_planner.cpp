#include "core/quant/budget_planner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/model/fused_projections.h"
#include "core/model/model_config.h"
#include "core/quant/hqq_quantizer.h"
#include "core/quant/layer_bytes.h"
#include "core/quant/quantize_model.h"

namespace hqq {

namespace {

// Picks for each layer the candidate minimising error + lambda * bytes.
double pick(std::vector<LayerChoice>& layers, double lambda) {
  double total = 0;
  for (auto& l : layers) {
    double best = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < l.errors.size(); ++c) {
      double v = l.errors[c] + lambda * l.bytes[c];
      if (v < best || (v == best && l.bytes[c] < l.bytes[l.chosen])) best = v, l.chosen = c;
    }
    total += l.bytes[l.chosen];
  }
  return total;
}

}  // namespace

double BudgetPlan::bits_per_weight() const {
  int64_t params = 0;
  for (const auto& l : layers) params += l.parameters;
  return params ? 8.0 * quantized_bytes / static_cast<double>(params) : 0;
}

namespace {

double total_error(const std::vector<LayerChoice>& layers) {
  double e = 0;
  for (const auto& l : layers) e += l.errors[l.chosen];
  return e;
}

// Lagrangian relaxation: bisection on the multiplier, then spend what is left greedily.
void lagrangian(std::vector<LayerChoice>& layers, double budget) {
  double lo = 0, hi = 1;
  while (pick(layers, hi) > budget) hi *= 4;
  if (pick(layers, lo) <= budget) return;  // the most accurate choice already fits
  for (int it = 0; it < 100; ++it) {
    double mid = 0.5 * (lo + hi);
    (pick(layers, mid) > budget ? lo : hi) = mid;
  }
  double used = pick(layers, hi);
  for (;;) {
    double best_ratio = 0;
    LayerChoice* best_layer = nullptr;
    size_t best_c = 0;
    for (auto& l : layers)
      for (size_t c = 0; c < l.errors.size(); ++c) {
        double extra = l.bytes[c] - l.bytes[l.chosen], gain = l.errors[l.chosen] - l.errors[c];
        if (extra <= 0 || gain <= 0 || used + extra > budget) continue;
        if (gain / extra > best_ratio) best_ratio = gain / extra, best_layer = &l, best_c = c;
      }
    if (!best_layer) break;
    used += best_layer->bytes[best_c] - best_layer->bytes[best_layer->chosen];
    best_layer->chosen = best_c;
  }
}

// Dynamic programming over the budget cut into `resolution` units (sizes rounded up, so the
// result always fits): optimal up to that rounding, whatever the shape of the error curves.
bool dynamic_program(std::vector<LayerChoice>& layers, double budget, int resolution) {
  const double unit = budget / resolution;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> dp(resolution + 1, 0.0), next(resolution + 1);
  std::vector<std::vector<uint8_t>> choice(layers.size(), std::vector<uint8_t>(resolution + 1, 0));
  for (size_t i = 0; i < layers.size(); ++i) {
    std::fill(next.begin(), next.end(), inf);
    for (size_t c = 0; c < layers[i].errors.size(); ++c) {
      const int64_t cost = static_cast<int64_t>(std::ceil(layers[i].bytes[c] / unit - 1e-9));
      for (int64_t b = cost; b <= resolution; ++b) {
        double v = dp[b - cost] + layers[i].errors[c];
        if (v < next[b]) next[b] = v, choice[i][b] = static_cast<uint8_t>(c);
      }
    }
    dp.swap(next);
  }
  if (!std::isfinite(dp[resolution])) return false;
  int64_t b = resolution;
  for (size_t i = layers.size(); i-- > 0;) {
    const size_t c = choice[i][b];
    layers[i].chosen = c;
    b -= static_cast<int64_t>(std::ceil(layers[i].bytes[c] / unit - 1e-9));
  }
  return true;
}

}  // namespace

void choose_candidates(std::vector<LayerChoice>& layers, double budget) {
  double smallest = 0;
  for (const auto& l : layers) smallest += *std::min_element(l.bytes.begin(), l.bytes.end());
  if (smallest > budget)
    throw InputError("the budget is too small: even the smallest candidates need " +
                     std::to_string(smallest / 1e9) + " GB for the quantized layers");
  // Best of three feasible answers: the DP, the Lagrangian, and every uniform choice that fits.
  std::vector<size_t> best(layers.size(), 0);
  double best_error = std::numeric_limits<double>::infinity();
  auto consider = [&] {
    double used = 0;
    for (const auto& l : layers) used += l.bytes[l.chosen];
    const double e = total_error(layers);
    if (used <= budget * (1 + 1e-12) && e < best_error) {
      best_error = e;
      for (size_t i = 0; i < layers.size(); ++i) best[i] = layers[i].chosen;
    }
  };
  if (dynamic_program(layers, budget, 4096)) consider();
  lagrangian(layers, budget);
  consider();
  const size_t n = layers.empty() ? 0 : layers[0].errors.size();
  for (size_t c = 0; c < n; ++c) {
    for (auto& l : layers) l.chosen = c;
    consider();
  }
  for (size_t i = 0; i < layers.size(); ++i) layers[i].chosen = best[i];
}

BudgetPlan plan_for_budget(const std::filesystem::path& dir, const QuantConfig& base,
                           const BudgetOptions& o, const JobContext& job) {
  if (o.total_bytes.has_value() == o.bits_per_weight.has_value())
    throw InputError("give exactly one budget: a total size or an average bits per weight");
  ModelConfig config = load_model_config(dir);
  Checkpoint ckpt = split_fused_projections(Checkpoint::open(dir), config);
  check_config_against_weights(config, ckpt);
  BudgetPlan r;
  r.candidates = o.candidates.empty() ? quant_presets() : o.candidates;
  const auto modules = decoder_projections(config.num_hidden_layers);
  double kept = 0;
  for (const auto& name : ckpt.names()) kept += static_cast<double>(ckpt.entry(name).nbytes());
  int64_t done = 0;
  for (const auto& m : modules) {
    job.check();
    const std::string wname = m + ".weight";
    at::Tensor w = ckpt.tensor(wname).to(at::kFloat);
    kept -= static_cast<double>(ckpt.entry(wname).nbytes());
    LayerChoice l;
    l.module = m;
    l.parameters = w.numel();
    const int64_t N = w.size(0), K = w.size(1);
    for (const auto& cand : r.candidates) {
      QuantConfig c = base;
      c.nbits = cand.bits;
      c.group_size = cand.group_size;
      // Measure on a sample that keeps groups whole: rows for axis 1 (groups along a row),
      // columns for axis 0 (a group lies in one column).
      at::Tensor sample = w;
      double scale = 1;
      const int64_t g = resolve_group_size({N, K}, c, wname);
      if (o.sample > 0 && c.axis == 1 && K % g == 0 && N > o.sample) {
        int64_t n = o.sample - o.sample % 8;      // keeps 1-bit packing rules
        sample = w.narrow(0, 0, n).contiguous();  // rows of a trained layer are exchangeable enough
        scale = static_cast<double>(N) / static_cast<double>(n);
      } else if (o.sample > 0 && c.axis == 0 && K > o.sample) {
        sample = w.narrow(1, 0, o.sample).contiguous();
        scale = static_cast<double>(K) / static_cast<double>(o.sample);
      }
      QuantizedTensor q = quantize(sample, c, wname);
      l.errors.push_back(scale *
                         (sample - dequantize(q)).to(at::kDouble).pow(2).sum().item<double>());
      l.bytes.push_back(hqq_layer_bytes(cand.bits, w.numel(), g, c.axis));
    }
    ckpt.release(wname);
    r.layers.push_back(std::move(l));
    job.report({"plan", ++done, static_cast<int64_t>(modules.size()), m});
  }
  r.kept_bytes = kept;
  double budget;
  if (o.total_bytes) {
    budget = *o.total_bytes - kept;
  } else {
    int64_t params = 0;
    for (const auto& l : r.layers) params += l.parameters;
    budget = *o.bits_per_weight * static_cast<double>(params) / 8.0;
  }
  choose_candidates(r.layers, budget);
  r.plan.defaults = base;
  for (const auto& l : r.layers) {
    const auto& cand = r.candidates[l.chosen];
    QuantRule rule;
    rule.match = l.module;
    rule.nbits = cand.bits;
    rule.group_size = cand.group_size;
    r.plan.overrides.push_back(rule);
    r.quantized_bytes += l.bytes[l.chosen];
    r.total_error += l.errors[l.chosen];
  }
  return r;
}

}  // namespace hqq
