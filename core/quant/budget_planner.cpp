#include "core/quant/budget_planner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/checkpoint.h"
#include "core/model/fused_projections.h"
#include "core/model/model_config.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/hqq_quantizer.h"
#include "core/quant/incoherence.h"
#include "core/quant/layer_bytes.h"
#include "core/quant/twolevel_linear.h"
#include "core/quant/twolevel_solver.h"

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
      if (!std::isfinite(layers[i].errors[c]) || !std::isfinite(layers[i].bytes[c])) continue;
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
  for (const auto& l : layers) {
    double least = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < l.bytes.size(); ++c)
      if (std::isfinite(l.errors[c])) least = std::min(least, l.bytes[c]);
    smallest += least;
  }
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
    if (used <= budget && e < best_error) {
      best_error = e;
      for (size_t i = 0; i < layers.size(); ++i) best[i] = layers[i].chosen;
    }
  };
  if (dynamic_program(layers, budget, 4096)) consider();
  lagrangian(layers, budget);
  consider();
  // Uniform over the layers that have candidate c (the output matrix has its own, fewer).
  const size_t n = layers.empty() ? 0 : layers[0].errors.size();
  for (size_t c = 0; c < n; ++c) {
    for (auto& l : layers)
      if (c < l.errors.size()) l.chosen = c;
    consider();
  }
  for (size_t i = 0; i < layers.size(); ++i) layers[i].chosen = best[i];
}

PlanMeasure plan_measure_from_name(const std::string& name) {
  if (name == "kl") return PlanMeasure::Kl;
  if (name == "weights") return PlanMeasure::Weights;
  throw InputError("unknown planner measure '" + name + "' (kl or weights)");
}

const char* plan_measure_name(PlanMeasure m) {
  return m == PlanMeasure::Kl ? "kl" : "weights";
}

namespace {

// The weight (fp32, original basis) exactly as quantize_checkpoint would store it for `module`
// under `c`: the same solver, rotation seed, fp16 meta and dequantization.
at::Tensor dequantized_as(const at::Tensor& w, const QuantConfig& c, const std::string& module,
                          const JobContext& job) {
  const std::string wname = module + ".weight";
  if (c.two_level()) {
    const int64_t K = w.size(1);
    const Rotation rot = c.rotate ? rotation_for(K, rotation_seed(module)) : Rotation{};
    const TwoLevelTensor t = quantize_twolevel(rot.enabled() ? rotate(w, rot, K) : w,
                                               twolevel_params(c), wname, {}, job);
    return TwoLevelLinear(pack_twolevel(t), at::Tensor(), at::kFloat, rot).dequantized(at::kFloat);
  }
  const QuantizedTensor q = quantize(w, c, wname, job);
  return HqqLinear(q, at::Tensor(), at::kFloat, /*fuse=*/false).dequantized(at::kFloat);
}

double sq_error(const at::Tensor& w, const at::Tensor& w_hat) {
  return (w - w_hat).to(at::kDouble).pow(2).sum().item<double>();
}

// Candidates not beaten in both bytes and weight error by another one (ties: the first).
std::vector<bool> undominated(const std::vector<double>& bytes, const std::vector<double>& err) {
  std::vector<bool> keep(bytes.size(), false);
  for (size_t c = 0; c < bytes.size(); ++c) {
    if (!std::isfinite(bytes[c]) || !std::isfinite(err[c])) continue;
    keep[c] = true;
    for (size_t d = 0; d < bytes.size() && keep[c]; ++d) {
      if (d == c || !std::isfinite(bytes[d]) || !std::isfinite(err[d])) continue;
      const bool no_worse = bytes[d] <= bytes[c] && err[d] <= err[c];
      const bool better = bytes[d] < bytes[c] || err[d] < err[c] || d < c;
      if (no_worse && better) keep[c] = false;
    }
  }
  return keep;
}

// What the measurements depend on (not the budget, except where it picks the measured candidate).
nlohmann::json cache_key(const std::filesystem::path& dir, const Checkpoint& ckpt,
                         const BudgetPlan& r, const QuantConfig& base, const BudgetOptions& o,
                         bool direct, double target_bits) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& c : r.candidates) names.push_back(c.name);
  return {{"version", 1},
          {"model", std::filesystem::absolute(dir).lexically_normal().string()},
          {"model_bytes", ckpt.total_bytes()},
          {"candidates", names},
          {"measure", plan_measure_name(o.measure)},
          {"probe", {o.probe.sequences, o.probe.length, o.probe.seed}},
          {"direct", direct},
          {"target_bits", o.measure == PlanMeasure::Kl && !direct ? target_bits : 0.0},
          {"sample", direct ? 0 : o.sample},
          {"optimizer", optimizer_name(base.optimizer)},
          {"iters", base.iters},
          {"axis", base.axis},
          {"round_zero", base.round_zero}};
}

nlohmann::json finite_or_null(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
  return a;
}

std::vector<double> from_json_list(const nlohmann::json& a) {
  std::vector<double> v;
  for (const auto& x : a)
    v.push_back(x.is_null() ? std::numeric_limits<double>::infinity() : x.get<double>());
  return v;
}

// The cached layers when the file holds this key; nothing otherwise (a stale or foreign file is
// measured again and replaced, never an error).
std::optional<std::vector<LayerChoice>> read_cache(const std::filesystem::path& file,
                                                   const nlohmann::json& key, size_t candidates) {
  if (file.empty() || !std::filesystem::exists(file)) return std::nullopt;
  try {
    const nlohmann::json j = read_json_file(file);
    if (j.at("key") != key) return std::nullopt;
    std::vector<LayerChoice> layers;
    for (const auto& l : j.at("layers")) {
      LayerChoice c;
      c.module = l.at("module").get<std::string>();
      c.parameters = l.at("parameters").get<int64_t>();
      c.errors = from_json_list(l.at("errors"));
      c.bytes = from_json_list(l.at("bytes"));
      c.weight_errors = from_json_list(l.at("weight_errors"));
      if (c.errors.size() != candidates || c.bytes.size() != candidates) return std::nullopt;
      layers.push_back(std::move(c));
    }
    return layers;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

nlohmann::json choice_json(const LayerChoice& l) {
  return {{"module", l.module},
          {"parameters", l.parameters},
          {"errors", finite_or_null(l.errors)},
          {"bytes", finite_or_null(l.bytes)},
          {"weight_errors", finite_or_null(l.weight_errors)}};
}

// A whole-matrix choice of a GB budget (the output matrix, the untied embedding): its options'
// bits (0: kept) and their measurements.
struct MatrixChoice {
  std::string field;   // "lm_head" or "embed": the cache's key, the plan's *_bits
  std::string tensor;  // its checkpoint tensor
  bool head = false;   // the KL probe replaces the output matrix (else the embedding rows)
  std::vector<int> options;
  std::optional<LayerChoice> choice;
};

void write_cache(const std::filesystem::path& file, const nlohmann::json& key,
                 const std::vector<LayerChoice>& layers, const std::vector<MatrixChoice>& mats) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& l : layers) a.push_back(choice_json(l));
  nlohmann::json j{{"key", key}, {"layers", a}};
  for (const auto& m : mats)
    if (m.choice) j[m.field] = {{"options", m.options}, {"choice", choice_json(*m.choice)}};
  write_file_atomic(file.string(), j.dump(1));
}

// A matrix's cached measurements, when the file holds this key and these options.
std::optional<LayerChoice> read_cached_matrix(const std::filesystem::path& file,
                                              const nlohmann::json& key, const MatrixChoice& m) {
  if (file.empty() || !std::filesystem::exists(file)) return std::nullopt;
  try {
    const nlohmann::json j = read_json_file(file);
    if (j.at("key") != key || !j.contains(m.field)) return std::nullopt;
    const nlohmann::json& h = j.at(m.field);
    if (h.at("options").get<std::vector<int>>() != m.options) return std::nullopt;
    LayerChoice c;
    c.module = h.at("choice").at("module").get<std::string>();
    c.parameters = h.at("choice").at("parameters").get<int64_t>();
    c.errors = from_json_list(h.at("choice").at("errors"));
    c.bytes = from_json_list(h.at("choice").at("bytes"));
    c.weight_errors = from_json_list(h.at("choice").at("weight_errors"));
    if (c.errors.size() != m.options.size() || c.bytes.size() != m.options.size())
      return std::nullopt;
    return c;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A matrix kept (bytes as stored, no loss) or quantized to each option's bits: bytes as the
// writer stores them, loss as the KL probe measures it with the matrix replaced (for a tied head
// the embedding rows too), or the squared weight error without a probe.
LayerChoice measure_matrix(Checkpoint& ckpt, const MatrixChoice& m, KlProbe* probe,
                           const JobContext& job) {
  LayerChoice h;
  h.module = m.field == "embed" ? "model.embed_tokens" : "lm_head";
  const at::Tensor w = ckpt.tensor(m.tensor).to(at::kFloat).contiguous();
  h.parameters = w.numel();
  for (int bits : m.options) {
    job.check();
    if (bits == 0) {
      h.bytes.push_back(static_cast<double>(ckpt.entry(m.tensor).nbytes()));
      h.errors.push_back(0);
      h.weight_errors.push_back(0);
      continue;
    }
    const QuantConfig cfg = lm_head_quant_config(bits, m.field + "_bits");
    h.bytes.push_back(hqq_layer_bytes(cfg.nbits, w.numel(), cfg.group_size, cfg.axis));
    const at::Tensor w_hat = dequantized_as(w, cfg, h.module, job);
    h.weight_errors.push_back(sq_error(w, w_hat));
    h.errors.push_back(!probe   ? h.weight_errors.back()
                       : m.head ? probe->kl_with_head(w_hat)
                                : probe->kl_with_embedding(w_hat));
  }
  ckpt.release(m.tensor);
  return h;
}

}  // namespace

BudgetPlan plan_for_budget(const std::filesystem::path& dir, const QuantConfig& base,
                           const BudgetOptions& o, const JobContext& job) {
  if (o.total_bytes.has_value() == o.bits_per_weight.has_value())
    throw InputError("give exactly one budget: a total size or an average bits per weight");
  ModelConfig config = load_model_config(dir);
  Checkpoint ckpt = split_fused_projections(Checkpoint::open(dir), config);
  check_config_against_weights(config, ckpt);
  BudgetPlan r;
  r.measure = o.measure;
  r.candidates = o.candidates.empty() ? plan_candidates() : o.candidates;
  const auto modules = decoder_projections(config.num_hidden_layers);
  double kept = 0;
  int64_t params = 0;
  for (const auto& name : ckpt.names()) kept += static_cast<double>(ckpt.entry(name).nbytes());
  for (const auto& m : modules) {
    const TensorEntry& e = ckpt.entry(m + ".weight");
    kept -= static_cast<double>(e.nbytes());
    params += e.shape.at(0) * e.shape.at(1);
  }
  // With a whole-model budget the output matrix and an untied embedding are choices of the
  // knapsack too (BudgetOptions::lm_head_bits, embed_bits). A kept bf16 head is 40 % of what a
  // 4-bit decode step of TinyLlama's shape reads (llama.cpp's files carry a 6-bit one), and a
  // Llama 3 8B's embedding is 1 GB in bf16.
  std::vector<MatrixChoice> mats;
  auto options = [](int fixed) {
    return fixed >= 0 ? std::vector<int>{fixed} : std::vector<int>{0, 8, 4};
  };
  const bool tied = config.tie_word_embeddings;
  const std::string embed_name = "model.embed_tokens.weight";
  if (o.total_bytes) {
    const std::string head_name = tied ? embed_name : "lm_head.weight";
    // Tied: one matrix; a fixed embedding fixes it (both given must agree, at quantize).
    const int head_fixed = o.lm_head_bits >= 0 ? o.lm_head_bits : tied ? o.embed_bits : -1;
    if (ckpt.has(head_name)) mats.push_back({"lm_head", head_name, true, options(head_fixed), {}});
    if (!tied && ckpt.has(embed_name))
      mats.push_back({"embed", embed_name, false, options(o.embed_bits), {}});
    for (const auto& m : mats) kept -= static_cast<double>(ckpt.entry(m.tensor).nbytes());
  }
  r.kept_bytes = kept;
  const double budget = o.total_bytes ? *o.total_bytes - kept
                                      : *o.bits_per_weight * static_cast<double>(params) / 8.0;
  const double target_bits = 8.0 * budget / static_cast<double>(std::max<int64_t>(params, 1));
  const bool kl = o.measure == PlanMeasure::Kl;
  const bool direct = kl && params <= o.kl_direct_parameters;
  const nlohmann::json key = cache_key(dir, ckpt, r, base, o, direct, target_bits);
  if (auto cached = read_cache(o.cache, key, r.candidates.size());
      cached && cached->size() == modules.size()) {
    r.layers = std::move(*cached);
    r.from_cache = true;
  }
  std::optional<KlProbe> probe;
  if (kl && !r.from_cache) {
    job.report({"plan", 0, static_cast<int64_t>(modules.size()), "sampling probe tokens"});
    probe.emplace(dir, config, o.probe, job);
  }
  const double inf = std::numeric_limits<double>::infinity();
  int64_t done = 0;
  for (const auto& m : r.from_cache ? std::vector<std::string>{} : modules) {
    job.check();
    const std::string wname = m + ".weight";
    const at::Tensor w = ckpt.tensor(wname).to(at::kFloat).contiguous();
    LayerChoice l;
    l.module = m;
    l.parameters = w.numel();
    const int64_t N = w.size(0), K = w.size(1);
    // Measured on whole rows (groups lie along rows on axis 1), or whole columns on axis 0.
    const int64_t rows = o.sample > 0 && !direct && N > o.sample ? o.sample - o.sample % 8 : N;
    const int64_t cols = o.sample > 0 && !direct && K > o.sample ? o.sample : K;
    std::vector<at::Tensor> w_hat(r.candidates.size());
    for (size_t c = 0; c < r.candidates.size(); ++c) {
      job.check();  // a layer's candidates take a while: cancelling must not wait for them all
      const PlanCandidate& cand = r.candidates[c];
      const QuantConfig cfg = cand.config(base);
      const double bytes = cand.layer_bytes(N, K, cfg.axis);
      l.bytes.push_back(bytes < 0 ? inf : bytes);
      if (bytes < 0) {
        l.weight_errors.push_back(inf);
        continue;
      }
      at::Tensor sample = w;
      double scale = 1;
      if (cfg.axis == 1 && rows < N) {
        sample = w.narrow(0, 0, rows).contiguous();  // rows of a trained layer are exchangeable
        scale = static_cast<double>(N) / static_cast<double>(rows);
      } else if (cfg.axis == 0 && cols < K) {
        sample = w.narrow(1, 0, cols).contiguous();
        scale = static_cast<double>(K) / static_cast<double>(cols);
      }
      at::Tensor s_hat = dequantized_as(sample, cfg, m, job);
      l.weight_errors.push_back(scale * sq_error(sample, s_hat));
      if (direct) w_hat[c] = std::move(s_hat);
    }
    l.errors.assign(r.candidates.size(), inf);
    const std::vector<bool> keep = undominated(l.bytes, l.weight_errors);
    if (!kl) {
      l.errors = l.weight_errors;
    } else if (direct) {
      for (size_t c = 0; c < keep.size(); ++c)
        if (keep[c]) {
          job.check();
          l.errors[c] = probe->kl_with(m, w_hat[c]);
          ++r.measurements;
        }
    } else {
      // One measured candidate (the one nearest the budget's bits per weight); the others scaled
      // by their weight error, which within one layer tracks the output error well.
      size_t p = keep.size();
      for (size_t c = 0; c < keep.size(); ++c) {
        if (!keep[c]) continue;
        const double bits = 8.0 * l.bytes[c] / static_cast<double>(l.parameters);
        const double best = p < keep.size() ? 8.0 * l.bytes[p] / l.parameters : inf;
        if (std::abs(bits - target_bits) < std::abs(best - target_bits)) p = c;
      }
      if (p < keep.size()) {
        const double kl_p =
            probe->kl_with(m, dequantized_as(w, r.candidates[p].config(base), m, job));
        ++r.measurements;
        for (size_t c = 0; c < keep.size(); ++c)
          if (keep[c])
            l.errors[c] =
                l.weight_errors[p] > 0 ? kl_p * l.weight_errors[c] / l.weight_errors[p] : kl_p;
      }
    }
    ckpt.release(wname);
    r.layers.push_back(std::move(l));
    job.report({"plan", ++done, static_cast<int64_t>(modules.size()), m});
  }
  for (auto& m : mats) {
    m.choice = read_cached_matrix(o.cache, key, m);
    if (m.choice) continue;
    const auto quantized = static_cast<int64_t>(
        std::count_if(m.options.begin(), m.options.end(), [](int bits) { return bits != 0; }));
    if (kl && quantized > 0 && !probe) probe.emplace(dir, config, o.probe, job);
    m.choice = measure_matrix(ckpt, m, probe ? &*probe : nullptr, job);
    r.measurements += kl ? quantized : 0;
  }
  if (!o.cache.empty() && (!r.from_cache || !mats.empty()))
    write_cache(o.cache, key, r.layers, mats);
  // One knapsack over the layers and the matrices.
  for (const auto& m : mats) r.layers.push_back(*m.choice);
  choose_candidates(r.layers, budget);
  for (size_t i = mats.size(); i-- > 0;) {
    mats[i].choice->chosen = r.layers.back().chosen;
    r.layers.pop_back();
  }
  r.plan.defaults = base;
  r.plan.embed_bits = std::max(o.embed_bits, 0);
  for (const auto& l : r.layers) {
    r.plan.overrides.push_back(r.candidates[l.chosen].rule(l.module));
    r.quantized_bytes += l.bytes[l.chosen];
    r.total_error += l.errors[l.chosen];
  }
  for (const auto& m : mats) {
    const LayerChoice& c = *m.choice;
    (m.field == "embed" ? r.plan.embed_bits : r.plan.lm_head_bits) = m.options[c.chosen];
    r.kept_bytes += c.bytes[c.chosen];
    r.total_error += c.errors[c.chosen];
    (m.field == "embed" ? r.embed : r.lm_head) = c;
    (m.field == "embed" ? r.embed_options : r.lm_head_options) = m.options;
  }
  return r;
}

}  // namespace hqq
