#include "core/quant/quantize_model.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include "core/base/build_info.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/base/memory_stats.h"
#include "core/io/checkpoint.h"
#include "core/io/output_folder.h"
#include "core/io/safetensors_writer.h"
#include "core/io/sharded_writer.h"
#include "core/model/fused_projections.h"
#include "core/model/lora.h"
#include "core/model/model_config.h"
#include "core/quant/calibration.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/layer_stats.h"
#include "core/quant/twolevel_linear.h"
#include "core/quant/twolevel_solver.h"
#include "core/quant/weight_prefetcher.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

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

// A unit that copies a source tensor unchanged (read with pread(): no mapped pages to drop).
WriteUnit copy_unit(const Checkpoint& ckpt, const std::string& name) {
  const TensorEntry& e = ckpt.entry(name);
  WriteUnit u;
  u.tensors.push_back({name, to_scalar_type(e.dtype), e.shape});
  u.produce = [&ckpt, name] {
    const TensorEntry& entry = ckpt.entry(name);
    at::Tensor t = at::empty(entry.shape, to_scalar_type(entry.dtype));
    ckpt.read(name, 0, t.data_ptr(), entry.nbytes());
    return std::vector<at::Tensor>{t};
  };
  return u;
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

// A weight the quantizer can take: finite, and small enough that squares and norms of it and of
// its error stay finite in fp32 (|w| < 1e18; real weights are below 1e3).
void require_finite_weight(const Checkpoint& ckpt, const std::string& name, const FloatRange& r) {
  if (!r.finite)
    fail_input(ckpt.file_of(name), "tensor '" + name + "' holds values that are not finite");
  if (std::max(std::fabs(r.min), std::fabs(r.max)) > 1e18f)
    fail_input(ckpt.file_of(name), "tensor '" + name + "' holds values beyond 1e18 in magnitude");
}

// Runs `f`, turning a libtorch error (whose text carries a C++ stack trace) into an Error that
// names the file and the tensor being worked on.
template <typename F>
auto with_tensor_context(const Checkpoint& ckpt, const std::string& name, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw Error(ckpt.file_of(name) + ": tensor '" + name + "': " + e.what_without_backtrace());
  }
}

bool any_two_level(const QuantPlan& plan) {
  if (plan.defaults.two_level()) return true;
  for (const auto& r : plan.overrides)
    if (r.scale_bits.value_or(0) > 0) return true;
  return false;
}

}  // namespace

nlohmann::json QuantizeTimings::to_json() const {
  return {{"read_s", read_s},   {"read_wait_s", read_wait_s}, {"solve_s", solve_s},
          {"stats_s", stats_s}, {"pack_s", pack_s},           {"copy_s", copy_s},
          {"write_s", write_s}};
}

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
          {"timings", timings.to_json()},
          {"calibrated", !calibration.is_null()},
          {"calibration", calibration},
          {"hqq_studio_version", hqq_version()}};
}

QuantizeSummary quantize_checkpoint(const QuantizeOptions& opts, const JobContext& job) {
  const auto t0 = Clock::now();
  ModelConfig config = load_model_config(opts.source);
  if (config.raw.contains("quantization_config"))
    fail_input((opts.source / "config.json").string(), "this model is already quantized");
  // Phi-3's fused projections are quantized part by part, each under its usual name.
  const Checkpoint source = Checkpoint::open(opts.source);
  Checkpoint ckpt = split_fused_projections(source, config);
  check_config_against_weights(config, ckpt);
  std::optional<CalibrationStats> calib;
  if (!opts.calibration.empty()) calib = load_calibration(opts.calibration);
  OutputFolder out(opts.output, opts.overwrite, {opts.source, opts.calibration});

  QuantizeSummary summary;
  summary.source_bytes = static_cast<int64_t>(ckpt.total_bytes());
  if (calib)
    summary.calibration = {{"file", opts.calibration.filename().string()},
                           {"text", calib->text},
                           {"tokens", calib->tokens}};
  std::vector<WriteUnit> units;
  std::set<std::string> covered;
  std::vector<std::string> quantized_order;  // the weights the solver takes, in write order
  std::optional<WeightPrefetcher> prefetch;  // made once that order is known
  QuantizeTimings& tm = summary.timings;
  auto copy = [&](const std::string& name) {
    if (!ckpt.has(name) || covered.count(name)) return;
    covered.insert(name);
    units.push_back(copy_unit(ckpt, name));
    units.back().produce = [produce = std::move(units.back().produce), &tm] {
      const auto start = Clock::now();
      auto out = produce();
      tm.copy_s += seconds_since(start);
      return out;
    };
  };
  const auto modules = decoder_projections(config.num_hidden_layers);
  int64_t quantized_count = 0;
  for (const auto& m : modules) quantized_count += opts.plan.config_for(m).has_value();
  // The embedding matrix and lm_head (plan.embed_bits / lm_head_bits). A tied model has one
  // matrix for both, stored as model.embed_tokens: either setting quantizes it, and the loader
  // makes the quantized matrix the lm_head and looks embeddings up in its rows.
  std::optional<QuantConfig> embed_cfg = opts.plan.embed_config();
  std::optional<QuantConfig> lm_head = opts.plan.lm_head_config();
  if (config.tie_word_embeddings || !ckpt.has("lm_head.weight")) {
    if (embed_cfg && lm_head && embed_cfg->nbits != lm_head->nbits)
      fail_input((opts.source / "config.json").string(),
                 "lm_head is tied to the embeddings (tie_word_embeddings): one matrix, one "
                 "format; give --embed-bits and --lm-head-bits the same value, or one of them");
    if (!embed_cfg) embed_cfg = lm_head;
    lm_head.reset();
  }
  for (const auto& [name, cfg] : {std::pair{std::string("model.embed_tokens"), embed_cfg},
                                  std::pair{std::string("lm_head"), lm_head}}) {
    if (!cfg) continue;
    const int64_t in = ckpt.entry(name + ".weight").shape.at(1);
    if (in % cfg->group_size != 0)
      fail_input(opts.source.string(), name + ": hidden size " + std::to_string(in) +
                                           " is not a multiple of the group size " +
                                           std::to_string(cfg->group_size));
    ++quantized_count;
  }

  // One quantized layer: its tensors' layout now (validating the plan early), its contents when
  // the writer asks (read one layer ahead by the prefetcher).
  int64_t done = 0;
  auto quantized_unit = [&](const std::string& module, const QuantConfig& cfg) {
    const std::string wname = module + ".weight";
    const bool has_bias = ckpt.has(module + ".bias");
    covered.insert(wname);
    covered.insert(module + ".bias");
    const std::vector<int64_t> shape = ckpt.entry(wname).shape;
    WriteUnit u;
    for (const auto& [key, layout] :  // validates the plan early
         cfg.two_level()
             ? twolevel_state_layout(shape, twolevel_params(cfg), has_bias, wname, cfg.rotate)
             : hqq_state_layout(shape, cfg, has_bias, wname))
      u.tensors.push_back({module + "." + key, layout.first, layout.second});
    quantized_order.push_back(wname);
    u.produce = [&, module, wname, shape, has_bias, c = cfg]() {
      job.check();
      return with_tensor_context(ckpt, wname, [&] {
        const auto start = Clock::now();
        // fp32 in a reused buffer, read while the previous layer was being solved.
        const WeightPrefetcher::Weight pw = prefetch->take(wname);
        const at::Tensor& w = pw.w;
        require_finite_weight(ckpt, wname, pw.range);
        const auto solve_start = Clock::now();
        at::Tensor bias = has_bias ? ckpt.tensor(module + ".bias").to(c.meta_dtype) : at::Tensor();
        LayerReport r;
        std::vector<at::Tensor> parts;
        Clock::time_point stats_end;
        auto stats = [&](const DequantizeBlock& w_hat) {
          const auto stats_start = Clock::now();
          tm.solve_s += std::chrono::duration<double>(stats_start - solve_start).count();
          fill_error_stats(w.data_ptr<float>(), w.numel(), pw.range.min, pw.range.max, w_hat, &r);
          stats_end = Clock::now();
          tm.stats_s += std::chrono::duration<double>(stats_end - stats_start).count();
        };
        // Calibration weighs the inputs of every layer whose inputs the solver sees as they
        // are: not a rotated one, and not the reference or RTN solvers (no error to weigh).
        // lm_head and the embeddings have no statistics (calibration.h observes projections).
        const bool weigh = calib && module.rfind("model.layers.", 0) == 0 && !c.rotate &&
                           c.axis == 1 && (c.two_level() || c.optimizer == HqqOptimizer::Improved);
        const at::Tensor importance =
            weigh ? calibration_importance(*calib, module, shape[1], opts.calibration)
                  : at::Tensor();
        if (c.two_level()) {
          // Rotated layers quantize W R (incoherence.h), seeded by the module's name.
          const Rotation rot =
              c.rotate ? rotation_for(shape[1], rotation_seed(module)) : Rotation{};
          TwoLevelSolverOptions so;
          so.input_importance = importance;
          const TwoLevelTensor t = quantize_twolevel(rot.enabled() ? rotate(w, rot, shape[1]) : w,
                                                     twolevel_params(c), wname, so, job);
          TwoLevelLinear layer(pack_twolevel(t), bias, at::kFloat, rot);
          stats(dense_block(layer.dequantized(at::kFloat)));
          r.group_size = c.group_size;
          r.stored_bytes = layer.storage_bytes();
          r.levels = twolevel_median_levels(t);
          for (auto& [key, part] : twolevel_state_dict(layer)) parts.push_back(part);
        } else {
          const QuantizedTensor q = quantize(w, c, wname, job, importance);
          stats(hqq_dequantize_block(q));
          HqqLinear layer(q, bias, at::kFloat, /*fuse=*/false);  // written, never multiplied
          r.group_size = layer.group_size();
          r.stored_bytes = layer.storage_bytes();
          r.levels = median_group_levels(q);
          for (auto& [key, part] : hqq_state_dict(layer, c)) parts.push_back(part);
        }
        tm.pack_s += seconds_since(stats_end);
        r.name = module;
        r.shape = shape;
        r.nbits = c.nbits;
        r.axis = c.axis;
        r.optimizer = c.two_level() ? "two-level" : optimizer_name(c.optimizer);
        r.calibrated = weigh;
        r.parameters = w.numel();
        r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        summary.layers.push_back(r);
        ++done;
        job.report({"quantize", done, quantized_count,
                    module + " " + std::to_string(c.nbits) + "-bit rel. error " +
                        std::to_string(r.rel_error)});
        if (opts.on_layer) opts.on_layer(r);
        return parts;
      });
    };
    return u;
  };

  if (embed_cfg) {
    units.push_back(quantized_unit("model.embed_tokens", *embed_cfg));
  } else {
    copy("model.embed_tokens.weight");
  }
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    copy(p + "input_layernorm.weight");
    copy(p + "post_attention_layernorm.weight");
    // A fused projection none of whose parts is quantized stays fused, as the family stores it.
    for (const auto& f : fused_projections(config, l)) {
      bool kept = true;
      for (const auto& part : f.parts) kept = kept && !opts.plan.config_for(part.first);
      for (const char* suffix : {".weight", ".bias"}) {
        if (!kept || !source.has(f.fused + suffix)) continue;
        units.push_back(copy_unit(source, f.fused + suffix));
        for (const auto& part : f.parts) covered.insert(part.first + suffix);
      }
    }
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
      units.push_back(quantized_unit(module, *cfg));
    }
  }
  copy("model.norm.weight");
  if (lm_head) {
    units.push_back(quantized_unit("lm_head", *lm_head));
  } else {
    copy("lm_head.weight");
  }
  for (const auto& name : ckpt.names()) copy(name);  // anything else the source carries

  const auto write_start = Clock::now();
  prefetch.emplace(ckpt, quantized_order);
  summary.output_bytes = write_sharded(out.path(), units, opts.shard_bytes, job);
  tm.read_s = prefetch->read_seconds();
  tm.read_wait_s = prefetch->wait_seconds();
  prefetch.reset();
  // What is left of the streaming stage once producing the tensors is taken out.
  tm.write_s =
      seconds_since(write_start) - tm.read_wait_s - tm.solve_s - tm.stats_s - tm.pack_s - tm.copy_s;
  job.check();

  nlohmann::json cfg_json = config.raw;
  cfg_json["quantization_config"] = {
      {"quant_method", "hqq"},
      {"quant_config",
       {{"weight_quant_params", weight_quant_params(opts.plan.defaults)},
        {"scale_quant_params", nullptr},
        {"zero_quant_params", nullptr},
        {"offload_meta", false}}},
      // transformers' HQQ loader reads a quantized lm_head like any layer when not skipped.
      {"skip_modules", lm_head ? nlohmann::json::array() : nlohmann::json::array({"lm_head"})},
      {"hqq_studio", {{"plan", opts.plan.to_json()}, {"version", hqq_version()}}}};
  if (calib) cfg_json["quantization_config"]["hqq_studio"]["calibration"] = summary.calibration;
  // Layers only HQQ Studio reads (docs/FORMATS.md): two-level ones, and a quantized embedding
  // (transformers' HQQ quantizes nn.Linear layers only).
  nlohmann::json formats = nlohmann::json::array();
  if (any_two_level(opts.plan)) formats = {"hqq", "twolevel-v1"};
  if (embed_cfg) {
    if (formats.empty()) formats.push_back("hqq");
    formats.push_back("hqq-embedding-v1");
  }
  if (!formats.empty()) cfg_json["quantization_config"]["hqq_studio"]["formats"] = formats;
  write_file_atomic((out.path() / "config.json").string(), cfg_json.dump(2));
  copy_tokenizer_files(opts.source, out.path());

  int64_t qbytes = 0, qparams = 0;
  for (const auto& r : summary.layers) {
    // Bits per weight are the decoder projections' (as llama.cpp counts them).
    if (r.name == "lm_head" || r.name == "model.embed_tokens") continue;
    qbytes += r.stored_bytes, qparams += r.parameters;
  }
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
  Checkpoint ckpt = split_fused_projections(Checkpoint::open(source), config);
  check_config_against_weights(config, ckpt);
  OutputFolder out(o.output, o.overwrite, {source, adapter});
  std::map<std::string, at::Tensor> deltas;
  if (!adapter.empty()) deltas = adapter_deltas(adapter);
  for (const auto& [m, d] : deltas)
    if (!ckpt.has(m + ".weight") && !is_hqq_layer(ckpt, m))
      fail_input(adapter.string(),
                 "adapts '" + m + "', which " + source.string() + " does not have");
  std::vector<WriteUnit> units;
  std::set<std::string> covered;
  std::vector<std::string> modules = decoder_projections(config.num_hidden_layers);
  for (const char* m : {"model.embed_tokens", "lm_head"})  // quantize --embed/--lm-head-bits
    if (is_hqq_layer(ckpt, m)) modules.push_back(m);
  // A family that fuses projections (Phi-3) gets them joined back: its parts are always rewritten.
  std::map<std::string, const FusedProjection*> fused_of;
  const auto fused = fused_projections(config);
  for (const auto& f : fused)
    for (const auto& part : f.parts) fused_of[part.first] = &f;
  auto rewritten = [&](const std::string& m) {
    return is_hqq_layer(ckpt, m) || is_twolevel_layer(ckpt, m) || deltas.count(m) ||
           fused_of.count(m);
  };
  int64_t total = 0, done = 0;
  for (const auto& m : modules) total += rewritten(m);
  auto shape_of = [&](const std::string& m) -> std::vector<int64_t> {
    const bool hqq = is_hqq_layer(ckpt, m), two_level = is_twolevel_layer(ckpt, m);
    if (!hqq && !two_level) return ckpt.entry(m + ".weight").shape;
    const auto shape = ckpt.tensor(m + (hqq ? ".shape" : ".tl_shape"));
    if (shape.numel() != 2) fail_input(ckpt.dir().string(), "'" + m + "' has a bad shape entry");
    return {shape[0].item<int64_t>(), shape[1].item<int64_t>()};
  };
  // The fp32 weight (and bias, if any) of module m: dequantized or dense, with the adapter merged.
  auto weight_of = [&](const std::string& m) -> std::pair<at::Tensor, at::Tensor> {
    const std::vector<int64_t> s = shape_of(m);
    const bool has_bias = ckpt.has(m + ".bias");
    at::Tensor w, bias;
    if (is_twolevel_layer(ckpt, m)) {
      auto layer = load_twolevel_linear(ckpt, m, s[0], s[1], has_bias, at::kFloat);
      w = layer->dequantized(at::kFloat);
      if (has_bias) bias = layer->bias();
    } else if (is_hqq_layer(ckpt, m)) {
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
    job.report({"export", ++done, total, m});
    return {w, bias};
  };
  auto cover = [&](const std::string& m) {
    for (const auto& name : ckpt.names())
      if (name.rfind(m + ".", 0) == 0) covered.insert(name);
  };
  for (const auto& f : fused) {
    int64_t rows = 0, cols = 0;
    const bool has_bias = ckpt.has(f.parts.front().first + ".bias");
    for (const auto& [m, n] : f.parts) {
      const auto s = shape_of(m);
      if (s[0] != n)
        fail_input(source.string(), "'" + m + "' has " + std::to_string(s[0]) +
                                        " rows but config.json implies " + std::to_string(n));
      rows += s[0], cols = s[1];
      cover(m);
    }
    WriteUnit u;
    u.tensors.push_back({f.fused + ".weight", at::kBFloat16, {rows, cols}});
    if (has_bias) u.tensors.push_back({f.fused + ".bias", at::kBFloat16, {rows}});
    u.produce = [&, parts = f.parts, has_bias] {
      std::vector<at::Tensor> ws, bs;
      for (const auto& part : parts) {
        auto [w, b] = weight_of(part.first);
        ws.push_back(w);
        if (has_bias) bs.push_back(b.to(at::kFloat));
      }
      std::vector<at::Tensor> out = {at::cat(ws, 0).to(at::kBFloat16)};
      if (has_bias) out.push_back(at::cat(bs, 0).to(at::kBFloat16));
      return out;
    };
    units.push_back(std::move(u));
  }
  for (const auto& m : modules) {
    if (!rewritten(m) || fused_of.count(m)) continue;
    cover(m);
    const std::vector<int64_t> s = shape_of(m);
    const bool has_bias = ckpt.has(m + ".bias");
    WriteUnit u;
    u.tensors.push_back({m + ".weight", at::kBFloat16, s});
    if (has_bias) u.tensors.push_back({m + ".bias", at::kBFloat16, {s[0]}});
    u.produce = [&, m, has_bias] {
      job.check();
      return with_tensor_context(ckpt,
                                 m + (is_hqq_layer(ckpt, m)        ? ".W_q"
                                      : is_twolevel_layer(ckpt, m) ? ".tl_shape"
                                                                   : ".weight"),
                                 [&] {
                                   auto [w, bias] = weight_of(m);
                                   std::vector<at::Tensor> parts = {w.to(at::kBFloat16)};
                                   if (has_bias) parts.push_back(bias.to(at::kBFloat16));
                                   return parts;
                                 });
    };
    units.push_back(std::move(u));
  }
  for (const auto& name : ckpt.names()) {
    if (covered.count(name)) continue;
    units.push_back(copy_unit(ckpt, name));
  }
  write_sharded(out.path(), units, 2'000'000'000, job);
  job.check();
  nlohmann::json cfg_json = config.raw;
  cfg_json.erase("quantization_config");
  cfg_json["torch_dtype"] = "bfloat16";
  write_file_atomic((out.path() / "config.json").string(), cfg_json.dump(2));
  copy_tokenizer_files(source, out.path());
  out.commit();
}

}  // namespace hqq
