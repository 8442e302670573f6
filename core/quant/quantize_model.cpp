#include "core/quant/quantize_model.h"

#include <chrono>
#include <set>

#include "core/base/build_info.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/base/memory_stats.h"
#include "core/io/checkpoint.h"
#include "core/io/output_folder.h"
#include "core/io/safetensors_writer.h"
#include "core/io/sharded_writer.h"
#include "core/model/lora.h"
#include "core/model/model_config.h"
#include "core/quant/hqq_linear.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json weight_quant_params(const QuantConfig& c) {
  return {
      {"nbits", c.nbits},
      {"channel_wise", true},
      {"group_size", c.group_size == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.group_size)},
      {"optimize", c.optimizer != HqqOptimizer::Off},
      {"round_zero", c.round_zero},
      {"axis", c.axis},
      {"view_as_float", false}};
}

// A unit that copies a source tensor unchanged, then lets its pages go.
WriteUnit copy_unit(const Checkpoint& ckpt, const std::string& name) {
  const TensorEntry& e = ckpt.entry(name);
  WriteUnit u;
  u.tensors.push_back({name, to_scalar_type(e.dtype), e.shape});
  u.produce = [&ckpt, name] {
    at::Tensor t = ckpt.tensor(name).clone();  // own the bytes, so the mapped pages can go
    ckpt.release(name);
    return std::vector<at::Tensor>{t};
  };
  return u;
}

void histograms(const at::Tensor& w, const at::Tensor& w_hat, LayerReport* r) {
  r->hist_min = w.min().item<double>();
  r->hist_max = w.max().item<double>();
  const double lo = r->hist_min, hi = r->hist_max > lo ? r->hist_max : lo + 1e-12;
  auto to_vec = [](const at::Tensor& h) {
    at::Tensor l = h.to(at::kLong);
    return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  };
  r->hist_original = to_vec(at::histc(w, 64, lo, hi));
  r->hist_dequantized = to_vec(at::histc(w_hat.clamp(lo, hi), 64, lo, hi));
  at::Tensor err = w - w_hat;
  r->err_max = std::max(err.abs().max().item<double>(), 1e-12);
  r->hist_error = to_vec(at::histc(err, 64, -r->err_max, r->err_max));
}

std::vector<double> median_group_levels(const QuantizedTensor& q) {
  at::Tensor s = q.scale.to(at::kDouble).flatten(), z = q.zero.to(at::kDouble).flatten();
  // The group at the median scale: a selection, no full sort of every group's scale.
  const int64_t g = std::get<1>(at::kthvalue(s, s.numel() / 2 + 1)).item<int64_t>();
  const double sg = s[g].item<double>(), zg = z[g].item<double>();
  std::vector<double> levels;
  for (int k = 0; k < (1 << q.nbits); ++k) levels.push_back((k - zg) * sg);
  return levels;
}

}  // namespace

nlohmann::json QuantizeSummary::to_json() const {
  nlohmann::json l = nlohmann::json::array();
  double sq = 0, norm_sq = 0;
  for (const auto& r : layers) {
    l.push_back(r.to_json());
    sq += r.sq_error;
    norm_sq += r.weight_sq;
  }
  return {{"layers", l},
          {"rel_error", norm_sq > 0 ? std::sqrt(sq / norm_sq) : 0.0},
          {"output_bytes", output_bytes},
          {"source_bytes", source_bytes},
          {"bits_per_weight", bits_per_weight},
          {"seconds", seconds},
          {"peak_rss_bytes", peak_rss_bytes},
          {"hqq_studio_version", hqq_version()}};
}

QuantizeSummary quantize_checkpoint(const QuantizeOptions& opts, const JobContext& job) {
  const auto t0 = Clock::now();
  ModelConfig config = load_model_config(opts.source);
  if (config.raw.contains("quantization_config"))
    fail_input((opts.source / "config.json").string(), "this model is already quantized");
  Checkpoint ckpt = Checkpoint::open(opts.source);
  OutputFolder out(opts.output, opts.overwrite);

  QuantizeSummary summary;
  summary.source_bytes = static_cast<int64_t>(ckpt.total_bytes());
  std::vector<WriteUnit> units;
  std::set<std::string> covered;
  auto copy = [&](const std::string& name) {
    if (!ckpt.has(name) || covered.count(name)) return;
    covered.insert(name);
    units.push_back(copy_unit(ckpt, name));
  };
  const auto modules = decoder_projections(config.num_hidden_layers);
  int64_t quantized_count = 0;
  for (const auto& m : modules) quantized_count += opts.plan.config_for(m).has_value();

  copy("model.embed_tokens.weight");
  int64_t done = 0;
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    copy(p + "input_layernorm.weight");
    copy(p + "post_attention_layernorm.weight");
    for (const char* proj : kProjectionSuffixes) {
      const std::string module = p + proj;
      const std::string wname = module + ".weight";
      if (!ckpt.has(wname)) fail_input(opts.source.string(), "missing tensor '" + wname + "'");
      std::optional<QuantConfig> cfg = opts.plan.config_for(module);
      if (!cfg) {
        copy(wname);
        copy(module + ".bias");
        continue;
      }
      const bool has_bias = ckpt.has(module + ".bias");
      covered.insert(wname);
      covered.insert(module + ".bias");
      const std::vector<int64_t> shape = ckpt.entry(wname).shape;
      WriteUnit u;
      for (const auto& [key, layout] :
           hqq_state_layout(shape, *cfg, has_bias, wname))  // validates the plan early
        u.tensors.push_back({module + "." + key, layout.first, layout.second});
      u.produce = [&, module, wname, shape, has_bias, c = *cfg]() {
        const auto start = Clock::now();
        at::Tensor w = ckpt.tensor(wname).to(at::kFloat);
        at::Tensor bias = has_bias ? ckpt.tensor(module + ".bias").to(c.meta_dtype) : at::Tensor();
        const QuantizedTensor q = quantize(w, c, wname);
        HqqLinear layer(q, bias, at::kFloat, /*fuse=*/false);  // written, never multiplied
        at::Tensor w_hat = layer.dequantized(at::kFloat);
        LayerReport r;
        r.name = module;
        r.shape = shape;
        r.nbits = c.nbits;
        r.group_size = layer.group_size();
        r.axis = c.axis;
        r.optimizer = optimizer_name(c.optimizer);
        at::Tensor diff = (w - w_hat).to(at::kDouble);
        r.sq_error = diff.pow(2).sum().item<double>();
        r.weight_sq = w.to(at::kDouble).pow(2).sum().item<double>();
        r.rel_error = r.weight_sq > 0 ? std::sqrt(r.sq_error / r.weight_sq) : 0.0;
        r.parameters = w.numel();
        r.stored_bytes = layer.storage_bytes();
        histograms(w, w_hat, &r);
        r.levels = median_group_levels(q);
        std::vector<at::Tensor> parts;
        for (auto& [key, t] : hqq_state_dict(layer, c)) parts.push_back(t);
        ckpt.release(wname);
        r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        summary.layers.push_back(r);
        ++done;
        job.report({"quantize", done, quantized_count,
                    module + " " + std::to_string(c.nbits) + "-bit rel. error " +
                        std::to_string(r.rel_error)});
        if (opts.on_layer) opts.on_layer(r);
        return parts;
      };
      units.push_back(std::move(u));
    }
  }
  copy("model.norm.weight");
  copy("lm_head.weight");
  for (const auto& name : ckpt.names()) copy(name);  // anything else the source carries

  summary.output_bytes = write_sharded(out.path(), units, opts.shard_bytes, job);
  job.check();

  nlohmann::json cfg_json = config.raw;
  cfg_json["quantization_config"] = {
      {"quant_method", "hqq"},
      {"quant_config",
       {{"weight_quant_params", weight_quant_params(opts.plan.defaults)},
        {"scale_quant_params", nullptr},
        {"zero_quant_params", nullptr},
        {"offload_meta", false}}},
      {"skip_modules", {"lm_head"}},
      {"hqq_studio", {{"plan", opts.plan.to_json()}, {"version", hqq_version()}}}};
  write_file_atomic((out.path() / "config.json").string(), cfg_json.dump(2));
  copy_tokenizer_files(opts.source, out.path());

  int64_t qbytes = 0, qparams = 0;
  for (const auto& r : summary.layers) qbytes += r.stored_bytes, qparams += r.parameters;
  summary.bits_per_weight =
      qparams ? 8.0 * static_cast<double>(qbytes) / static_cast<double>(qparams) : 0;
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  summary.peak_rss_bytes = memory_stats().peak_rss_bytes;
  write_file_atomic((out.path() / "hqq_report.json").string(), summary.to_json().dump(1));
  out.commit();
  return summary;
}

void export_dequantized(const ExportOptions& o, const JobContext& job) {
  const fs::path& source = o.source;
  const fs::path& adapter = o.adapter;
  ModelConfig config = load_model_config(source);
  Checkpoint ckpt = Checkpoint::open(source);
  std::map<std::string, at::Tensor> deltas;
  if (!adapter.empty()) deltas = adapter_deltas(adapter);
  OutputFolder out(o.output, o.overwrite);
  std::vector<WriteUnit> units;
  std::set<std::string> covered;
  const auto modules = decoder_projections(config.num_hidden_layers);
  int64_t total = 0, done = 0;
  for (const auto& m : modules) total += is_hqq_layer(ckpt, m) || deltas.count(m);
  for (const auto& m : modules) {
    const bool hqq = is_hqq_layer(ckpt, m);
    if (!hqq && !deltas.count(m)) continue;
    for (const auto& name : ckpt.names())
      if (name.rfind(m + ".", 0) == 0) covered.insert(name);
    std::vector<int64_t> s;
    if (hqq) {
      const auto shape = ckpt.tensor(m + ".shape");
      s = {shape[0].item<int64_t>(), shape[1].item<int64_t>()};
    } else {
      s = ckpt.entry(m + ".weight").shape;
    }
    const bool has_bias = ckpt.has(m + ".bias");
    WriteUnit u;
    u.tensors.push_back({m + ".weight", at::kBFloat16, s});
    if (has_bias) u.tensors.push_back({m + ".bias", at::kBFloat16, {s[0]}});
    u.produce = [&, m, s, has_bias, hqq] {
      at::Tensor w, bias;
      if (hqq) {
        auto layer = load_hqq_linear(ckpt, m, s[0], s[1], has_bias, at::kFloat);
        w = layer->dequantized(at::kFloat);
        if (has_bias) bias = layer->bias();
      } else {
        w = ckpt.tensor(m + ".weight").to(at::kFloat);
        if (has_bias) bias = ckpt.tensor(m + ".bias");
      }
      if (auto d = deltas.find(m); d != deltas.end()) {
        if (d->second.sizes() != w.sizes())
          fail_input(adapter.string(),
                     "the adapter's update for '" + m + "' does not fit the weight");
        w = w + d->second;
      }
      std::vector<at::Tensor> parts = {w.to(at::kBFloat16)};
      if (has_bias) parts.push_back(bias.to(at::kBFloat16));
      job.report({"export", ++done, total, m});
      return parts;
    };
    units.push_back(std::move(u));
  }
  for (const auto& name : ckpt.names()) {
    if (covered.count(name)) continue;
    units.push_back(copy_unit(ckpt, name));
  }
  write_sharded(out.path(), units, 2'000'000'000, job);
  nlohmann::json cfg_json = config.raw;
  cfg_json.erase("quantization_config");
  cfg_json["torch_dtype"] = "bfloat16";
  write_file_atomic((out.path() / "config.json").string(), cfg_json.dump(2));
  copy_tokenizer_files(source, out.path());
  out.commit();
}

}  // namespace hqq
